"""`coveo-ua` reads one configuration for every command: flags, env, then .dlt TOML files.

Each command runs against the simulator with the connection given only in
.dlt/config.toml and .dlt/secrets.toml in the cwd, as an operator would set it up.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import dlt
import pytest
from helpers import TOKEN, assert_loaded_match, forked, loaded_tables, utc
from helpers.cli import cli_environment, write_dlt_config
from helpers.forked import ForkedProcess
from helpers.open_database import database_kept_open
from helpers.postgres import drop_datasets, postgres_url

from coveo_ua_simulator import Simulator, ground_truth
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.cli.config import CONFIG_ONLY_OPTIONS
from coveo_ua_source.cli.main import main
from coveo_ua_source.configuration import resolve_source_config
from coveo_ua_source.schema import TABLES
from coveo_ua_source.source import coveo_ua_source

START, END = utc(2024, 4, 1), utc(2024, 4, 3)
RANGE = {"start_date": "2024-04-01", "end_date": "2024-04-03"}
PIPELINE = ["--duckdb-file", "cli.duckdb", "--pipelines-dir", "pipelines"]
MAIN = "coveo_ua_source.cli.main:main"


def project_folder(tmp_path: Path, simulator: Simulator, **options: object) -> Path:
    """A project folder for a `coveo-ua` subprocess, apart from this process's dlt run dir."""
    project = tmp_path / "project"
    project.mkdir()
    write_dlt_config(project, simulator, **options)
    return project


def attach(folder: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="coveo_ua",
        destination=dlt.destinations.duckdb(str(folder / "cli.duckdb")),
        dataset_name="usage_analytics",
        pipelines_dir=str(folder / "pipelines"),
    )


def test_every_command_takes_the_connection_from_dlt_toml(
    simulator: Simulator, dlt_config, capsys: pytest.CaptureFixture[str]
) -> None:
    dlt_project = dlt_config(simulator, keep_exports=True, **RANGE)
    assert main(["plan", "--pipelines-dir", "pipelines"]) == 0
    assert "2 export(s) planned" in capsys.readouterr().out
    assert simulator.created_count == 0, "plan creates nothing"
    with database_kept_open(dlt_project / "cli.duckdb"):  # helpers/open_database.py
        assert main(["load", *PIPELINE, "--no-progress"]) == 0
        assert "daily_search_metrics" in capsys.readouterr().out
        assert_loaded_match(loaded_tables(attach(dlt_project), TABLES), simulator, END, start=START)
        assert main(["views", *PIPELINE]) == 0
        assert "all_events" in capsys.readouterr().out
        assert main(["exports", "list", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert sorted(item["id"] for item in listed) == sorted(simulator.exports)
        assert main(["exports", "prune", *PIPELINE]) == 0
        assert "deleted 2 export(s)" in capsys.readouterr().out
        assert main(["dimensions", "--json", "--pipelines-dir", "pipelines"]) == 0
        dimensions = {row["return_name"]: row for row in json.loads(capsys.readouterr().out)}
        assert dimensions["custom_events.c_cart_value"]["loaded"] == {"c_cart_value": "double"}
    assert all(export.deleted for export in simulator.exports.values())
    first = next(iter(simulator.exports))
    assert main(["exports", "delete", first]) == 1, "already deleted: the API says 404"


def test_flags_then_env_then_toml(simulator: Simulator, dlt_config, monkeypatch) -> None:
    dlt_config(simulator, region="eu", window="PT6H", **RANGE)
    monkeypatch.setenv("SOURCES__COVEO_UA__WINDOW", "PT12H")
    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", "from-env")
    config = resolve_source_config({"end_date": "2024-04-02"})
    assert config["region"] == "eu", "from .dlt/config.toml"
    assert config["window"] == "PT12H", "the environment wins over the TOML file"
    assert config["end_date"] == "2024-04-02", "a flag wins over both"
    assert config["access_token"] == "from-env", "COVEO_UA_ACCESS_TOKEN wins over secrets.toml"
    assert config["base_url"] == simulator.api_root


def test_config_only_options_are_every_source_option_without_a_flag() -> None:
    flags = {"start_date", "end_date", "tables", "window", "lookback", "org_id", "region",
             "base_url", "export_format", "max_exports"}  # fmt: skip
    options = set(coveo_ua_source.ref.SPEC.get_resolvable_fields())
    assert set(CONFIG_ONLY_OPTIONS) == options - flags


def test_load_help_lists_the_options_only_config_can_set() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coveo_ua_source.cli", "load", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "[sources.coveo_ua]" in result.stdout
    assert "SOURCES__COVEO_UA__<NAME>" in result.stdout
    for name in CONFIG_ONLY_OPTIONS:
        assert f"\n  {name} " in result.stdout, name
    for option in ("--duckdb-file", "--credentials", "--pipelines-dir", "--max-exports"):
        assert option in result.stdout


def test_missing_token_names_every_place_to_set_it(
    simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--base-url", simulator.api_root, "--start-date", "2024-04-01"]
    for command in (["load", *arguments], ["plan", *arguments], ["exports", "list"]):
        assert main(command) == 2
        error = capsys.readouterr().err
        for place in ("COVEO_UA_ACCESS_TOKEN", "SOURCES__COVEO_UA__ACCESS_TOKEN",
                      ".dlt/secrets.toml", "[sources.coveo_ua]", "access_token="):  # fmt: skip
            assert place in error, (command, place)
    assert simulator.requests == []


def test_missing_start_date_is_one_line_and_exit_2(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", TOKEN)
    for command in ("load", "plan"):
        assert main([command, "--base-url", simulator.api_root]) == 2
        error = capsys.readouterr().err.strip()
        assert "\n" not in error
        assert "--start-date" in error
        assert "start_date" in error.replace("--start-date", "")
    assert simulator.requests == []


def start_forked_cli(target: str, argv: list[str], project: Path, label: str) -> ForkedProcess:
    """`coveo-ua ARGV` started in ``project``, forked (no new interpreter importing dlt)."""
    return forked.start(
        target, argv, environment=cli_environment(project.parent), cwd=project,
        stdout=project.parent / f"{label}.out", stderr=project.parent / f"{label}.err",
    )  # fmt: skip


def test_forked_commands_read_the_dlt_toml_of_their_own_working_folder(
    start_simulator, tmp_path: Path
) -> None:
    """The forking server has not read any config: each child reads its cwd's .dlt files."""
    projects = []
    for name in ("one", "two"):
        simulator = start_simulator()
        created = CoveoClient(TOKEN, base_url=simulator.api_root).create_export(START, END).id
        project = tmp_path / name / "project"
        project.mkdir(parents=True)
        write_dlt_config(project, simulator)
        projects.append((project, created))
    listings = [
        start_forked_cli(MAIN, ["exports", "list", "--ids-only"], project, "list")
        for project, _ in projects
    ]
    for (project, created), listing in zip(projects, listings, strict=True):
        assert listing.wait(timeout=120) == 0, (project.parent / "list.err").read_text()
        assert (project.parent / "list.out").read_text().split() == [created], project


@pytest.mark.slow
def test_ctrl_c_says_the_rerun_resumes_and_exits_130(start_simulator, tmp_path: Path) -> None:
    simulator = start_simulator(build_delay=120.0)
    project = project_folder(tmp_path, simulator, **RANGE)
    load = ["load", *PIPELINE, "--no-progress"]
    process = start_forked_cli("helpers.targets:cli_taking_ctrl_c", load, project, "load")
    # a real process: wait until it is inside the slow build
    process.wait_for(lambda: simulator.created_count > 0, 60, "the load's first export")
    assert simulator.created_count > 0, (tmp_path / "load.err").read_text()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()  # a process left running would fail a later test of this worker
        pytest.fail("the load did not stop within 60 s of Ctrl-C")
    error = (tmp_path / "load.err").read_text()
    assert process.returncode == 130, error
    assert "interrupted" in error
    assert "run the same command again to resume" in error
    assert "reused" in error
    assert "Traceback" not in error


def readme_cli_lines() -> list[str]:
    """The commands of the README's "Command line" block, as written."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = readme.split("## Command line", 1)[1]
    block = section.split("```", 2)[1]
    return [line.split("  #", 1)[0].strip() for line in block.strip().splitlines()]


def run_readme_line(line: str, project: Path) -> str:
    """A README command line in ``project``; its standard output.

    The shell pipe runs as written: bash and two installed `coveo-ua` processes. A single
    `coveo-ua ARGS` runs `main(ARGS)` in a forked process (a new interpreter costs about a
    second importing dlt; the entry point itself is what the pipe and test_package run).
    """
    environment = cli_environment(project.parent)
    if "|" in line:
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line], cwd=project, env=environment,
            capture_output=True, text=True, check=False, timeout=240,
        )  # fmt: skip
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        return result.stdout
    command, *argv = shlex.split(line)
    assert command == "coveo-ua", line
    return forked.output_of(MAIN, argv, environment=environment, cwd=project, label="readme")


@pytest.mark.slow
def test_readme_command_line_examples_run_as_written(simulator: Simulator, tmp_path: Path) -> None:
    lines = readme_cli_lines()
    assert any("| coveo-ua exports delete -" in line for line in lines)
    project = project_folder(tmp_path, simulator, keep_exports=True)  # the pipe deletes them
    outputs = {}
    for line in lines:
        if line.startswith("coveo-ua-simulator"):
            continue  # the tests already run one
        outputs[line] = run_readme_line(line, project)
    start, end = utc(2024, 1, 1), utc(2024, 1, 8)
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua",
        destination=dlt.destinations.duckdb(str(project / "coveo_ua.duckdb")),
        dataset_name="usage_analytics",
        pipelines_dir=str(tmp_path / "dlt" / "pipelines"),
    )
    assert_loaded_match(loaded_tables(pipeline, TABLES), simulator, end, start=start)
    assert "7 export(s) planned" in next(out for line, out in outputs.items() if "plan" in line)
    pipe = next(out for line, out in outputs.items() if "| coveo-ua exports delete -" in line)
    assert len(simulator.exports) == 7
    for export_id in simulator.exports:
        assert f"deleted {export_id}" in pipe, "the shell pipe deletes the exports the load kept"
    assert all(export.deleted for export in simulator.exports.values())
    assert os.environ.get("COVEO_UA_ACCESS_TOKEN") is None, "the token came from secrets.toml"


def test_missing_destination_credentials_are_one_line_naming_the_keys_and_exit_2(
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", TOKEN)
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    arguments = ["--base-url", simulator.api_root, "--start-date", "2024-04-01"]
    where = ["--pipelines-dir", str(tmp_path / "p"), "--no-progress"]
    assert main(["load", "--destination", "postgres", *arguments, *where]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) <= 2, error
    assert "destination.postgres.credentials.password" in error
    assert "DESTINATION__POSTGRES__CREDENTIALS__" in error
    assert "tried in order" not in error, "dlt's lookup trace stays out"


def test_a_comma_string_of_tables_in_toml_is_a_list_and_a_bad_list_names_the_setting(
    simulator: Simulator, dlt_config, capsys: pytest.CaptureFixture[str]
) -> None:
    dlt_config(simulator, tables="searches,clicks", **RANGE)
    assert main(["plan", "--pipelines-dir", "pipelines"]) == 0
    output = capsys.readouterr().out
    assert "searches" in output
    assert "groups" not in output, "only the two tables named"
    dlt_config(simulator, filters="a,b", **RANGE)
    assert main(["plan", "--pipelines-dir", "pipelines"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: setting filters = 'a,b' is not a list"), error
    assert "\n" not in error
    assert simulator.created_count == 0


def test_a_bad_argument_is_a_usage_error_and_a_refused_plan_a_failed_run(
    connected: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    day = ["--start-date", "2024-04-01", "--end-date", "2024-04-02", "--pipelines-dir", "p"]
    assert main(["plan", *day, "--tables", "searches,sessions"]) == 2
    assert "unknown table(s) sessions" in capsys.readouterr().err
    assert main(["load", *day, "--window", "P1X"]) == 2
    assert "window='P1X' is not a duration" in capsys.readouterr().err
    assert main(["plan", *day, "--window", "PT1M"]) == 1, "refused: too many exports"
    assert connected.requests == []


@pytest.mark.parametrize(
    "destination", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_commands_after_a_load_use_the_destination_it_recorded(
    destination: str,
    connected: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"recorded_{destination}_{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(tmp_path)
    where = ["--pipeline-name", name, "--pipelines-dir", "pipelines"]
    if destination == "postgres":
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_url())
        target = ["--destination", "postgres", "--dataset-name", name]
    else:
        target = ["--duckdb-file", "data/loaded.duckdb", "--dataset-name", "ua"]
        (tmp_path / "data").mkdir()
    day = ["--start-date", "2024-04-01", "--end-date", "2024-04-02"]
    try:
        assert main(["load", *day, *where, *target, "--no-progress"]) == 0
        capsys.readouterr()
        assert main(["views", *where]) == 0, capsys.readouterr().err
        assert "all_events" in capsys.readouterr().out
        assert main(["plan", *day, *where]) == 0
        assert "0 export(s) planned" in capsys.readouterr().out, "the pipeline is current"
        assert main(["exports", "prune", *where]) == 0, capsys.readouterr().err
        assert not list(tmp_path.glob("*.duckdb")), "no database the user did not name"
        assert main(["views", "--pipeline-name", "never_loaded", "--pipelines-dir", "p"]) == 2
        assert "no destination known for pipeline 'never_loaded'" in capsys.readouterr().err
        assert not list(tmp_path.glob("*.duckdb"))
    finally:
        if destination == "postgres":
            drop_datasets(dlt.attach(name, pipelines_dir=str(tmp_path / "pipelines")))


def test_the_destination_can_be_set_in_config_and_a_flag_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argparse import Namespace

    from coveo_ua_source.cli.pipeline import chosen_destination

    monkeypatch.setenv("COVEO_UA__DESTINATION", "postgres")
    monkeypatch.setenv("COVEO_UA__DATASET_NAME", "from_config")
    args = Namespace(pipeline_name="configured", pipelines_dir=str(tmp_path), destination=None,
                     duckdb_file=None, dataset_name=None, credentials=None)  # fmt: skip
    chosen = chosen_destination(args)
    assert (chosen["known"], chosen["destination"], chosen["dataset_name"]) == (
        True, "postgres", "from_config",
    )  # fmt: skip
    args.destination = "duckdb"
    assert chosen_destination(args)["destination"] == "duckdb", "the flag first"
    monkeypatch.delenv("COVEO_UA__DESTINATION")
    monkeypatch.delenv("COVEO_UA__DATASET_NAME")
    args.destination = None
    assert chosen_destination(args)["known"] is False, "nothing names it: unknown"


def test_load_json_prints_only_the_summary_object(
    connected: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    day = ["--start-date", "2024-04-01", "--end-date", "2024-04-02"]
    where = ["--duckdb-file", "json.duckdb", "--pipelines-dir", "p", "--pipeline-name", "js"]
    assert main(["load", *day, *where, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # nothing else on standard output
    assert set(summary) == {
        "pipeline_name", "dataset_name", "destination", "rows", "views", "exports_deleted",
        "exports_planned", "table_windows", "rejected_rows", "rejected_values",
        "repaired_values", "repaired_windows", "retried_windows", "location", "pipelines_dir",
    }  # fmt: skip
    truth = {t: len(ground_truth(connected.config, t, utc(2024, 4, 1), utc(2024, 4, 2)))
             for t in TABLES}  # fmt: skip
    assert summary["rows"] == truth
    assert summary["table_windows"] == len(TABLES)
    assert summary["exports_planned"] == 1
    assert set(summary["rejected_values"]) == set(TABLES)
    assert summary["repaired_windows"] == summary["retried_windows"] == {}
    assert summary["exports_deleted"] == 1
    assert summary["location"] == f"file {tmp_path / 'json.duckdb'}"
    assert "all_events" in summary["views"]
