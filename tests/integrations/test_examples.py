"""The example pipelines, the demo and the CLI, run for real against the simulator."""

from __future__ import annotations

import inspect
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dlt
import pytest
from helpers import (
    TOKEN,
    assert_loaded_match,
    assert_rows_equal,
    expected_rows,
    forked,
    loaded_rows,
    loaded_tables,
    utc,
)
from helpers.open_database import database_kept_open

import coveo_ua_source
from coveo_ua_simulator import Simulator
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.cli.demo import DEMO_DAYS, DEMO_START
from coveo_ua_source.cli.main import main
from coveo_ua_source.schema import TABLES

REPO = Path(__file__).resolve().parents[2]
MAIN = "coveo_ua_source.cli.main:main"
PROJECT = REPO / "coveo_ua_source" / "templates" / "project"  # what `coveo-ua init` writes
START, END = utc(2024, 4, 1), utc(2024, 4, 3)


def script_environment(simulator: Simulator, tmp_path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        {
            "SOURCES__COVEO_UA__ACCESS_TOKEN": TOKEN,
            "SOURCES__COVEO_UA__BASE_URL": simulator.api_root,
            "SOURCES__COVEO_UA__POLL_INTERVAL": "0.01",
            "DLT_DATA_DIR": str(tmp_path / "dlt"),
            "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "examples.duckdb"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
    )
    return environment


def attach(tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="coveo_ua",
        destination=dlt.destinations.duckdb(str(tmp_path / "examples.duckdb")),
        dataset_name="usage_analytics",
        pipelines_dir=str(tmp_path / "dlt" / "pipelines"),
    )


def run_script(args: list[str], environment: dict[str, str], cwd: Path) -> str:
    """``python SCRIPT ARGS...`` in a process forked from one that imported dlt already."""
    target = "helpers.targets:run_script"
    return forked.output_of(target, args, environment=environment, cwd=cwd, label="script")


def readme_python_blocks() -> list[str]:
    """The ```python blocks of the README, as written."""
    readme = (REPO / "README.md").read_text("utf-8")
    return [part.split("```", 1)[0] for part in readme.split("```python\n")[1:]]


@pytest.mark.slow
def test_the_readme_python_examples_run_as_written(simulator: Simulator, tmp_path: Path) -> None:
    blocks = readme_python_blocks()
    assert blocks, "the README shows a Python example"
    environment = script_environment(simulator, tmp_path)
    for number, block in enumerate(blocks, 1):
        script = tmp_path / f"readme_{number}.py"
        script.write_text(block, encoding="utf-8")
        run_script([str(script)], environment, tmp_path)
    start = datetime.combine(date.today() - timedelta(days=7), time(), UTC)
    pipeline = attach(tmp_path)
    with pipeline.sql_client() as client:
        ends = client.execute_sql("SELECT max(window_end) FROM _coveo_ua_windows")
    end = ends[0][0].astimezone(UTC)
    assert end > start + timedelta(days=6), "a week of windows"
    assert_loaded_match(loaded_tables(pipeline, TABLES), simulator, end, start=start)


@pytest.mark.slow
def test_backfill_then_incremental_example_pipelines(simulator: Simulator, tmp_path: Path) -> None:
    environment = script_environment(simulator, tmp_path)
    backfill = [
        str(PROJECT / "backfill.py"),
        f"--start-date={START.date()}",
        f"--end-date={END.date()}",
        "--window=P1D",
    ]
    run_script(backfill, environment, tmp_path)
    assert simulator.created_count == 2
    later = END + timedelta(days=1)
    environment["SOURCES__COVEO_UA__START_DATE"] = START.isoformat()
    environment["SOURCES__COVEO_UA__END_DATE"] = later.isoformat()
    run_script([str(PROJECT / "coveo_ua_pipeline.py")], environment, tmp_path)
    assert simulator.created_count == 3, "the incremental run carries on after the backfill"
    before = set(simulator.exports)
    partition = [
        str(PROJECT / "backfill.py"), "--partition", "--pipeline-name=coveo_ua_p0",
        f"--start-date={START.date()}", f"--end-date={(START + timedelta(days=1)).date()}",
    ]  # fmt: skip
    run_script(partition, environment, tmp_path)
    reloaded = [simulator.exports[i] for i in set(simulator.exports) - before]
    assert [(e.start, e.deleted) for e in reloaded] == [(START, True)], "its range, cleaned up"
    assert_loaded_match(loaded_tables(attach(tmp_path), TABLES), simulator, later, start=START)


def test_demo_loads_the_simulated_days_and_fits_one_screen(tmp_path: Path) -> None:
    environment = {**os.environ, "COLUMNS": "160", "DLT_DATA_DIR": str(tmp_path / "dlt")}
    argv = ["demo", "--database", "coveo_ua.duckdb", "--pipelines-dir", "p"]
    output = forked.output_of(MAIN, argv, environment=environment, cwd=tmp_path, label="demo")
    errors = (tmp_path / "demo.err").read_text()
    assert "WARNING" not in output + errors, "the demo summarizes its warnings"
    assert len(output.splitlines()) <= 40, output
    assert "SIMULATED" in output
    assert "rerun, nothing new" in output
    assert "0 export(s) created" in output
    assert "custom_events.c_cart_value" in output
    assert "double" in output, "the demo shows a typed custom dimension"
    assert "rejected (NULL)" in output
    assert "notice(s) while loading" not in output, "the table above counts unparsable values"
    database = tmp_path / "coveo_ua.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua_demo",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="usage_analytics",
        pipelines_dir=str(tmp_path / "p"),
    )
    loaded = loaded_tables(pipeline, TABLES)
    with Simulator() as simulator:  # the same default config as the demo: same ground truth
        end = DEMO_START + timedelta(days=DEMO_DAYS)
        assert_loaded_match(loaded, simulator, end, start=DEMO_START)


def test_cli_load_plan_and_exports(
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "examples.duckdb"))
    monkeypatch.setenv("SOURCES__COVEO_UA__POLL_INTERVAL", "0.01")
    common = ["--base-url", simulator.api_root, "--start-date", str(START.date())]
    window = [*common, "--end-date", str(END.date()), "--tables", "searches,clicks"]
    assert main(["plan", *window]) == 0
    assert "2 export(s) planned" in capsys.readouterr().out
    assert simulator.created_count == 0, "plan creates nothing"
    with database_kept_open(tmp_path / "examples.duckdb"):
        assert main(["load", *window]) == 0
    output = capsys.readouterr().out
    assert "loaded" in output, "the progress display shows each window's rows"
    assert "daily_search_metrics" in output
    searches = len(expected_rows(simulator, "searches", START, END))
    assert f"{searches:,}" in output
    assert "exports deleted on Coveo now that they are loaded: 2" in output
    assert all(export.deleted for export in simulator.exports.values())
    kept = CoveoClient(TOKEN, base_url=simulator.api_root).create_export(START, END).id
    assert main(["exports", "list", "--base-url", simulator.api_root]) == 0
    assert kept in capsys.readouterr().out
    assert main(["exports", "delete", kept, "--base-url", simulator.api_root]) == 0
    assert simulator.exports[kept].deleted
    assert_rows_equal(
        loaded_rows(attach(tmp_path), "searches"),
        expected_rows(simulator, "searches", START, END),
        "searches",
    )


def test_cli_failure_is_one_line_and_nonzero(
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", "wrong-token-value")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "x.duckdb"))
    arguments = ["--base-url", simulator.api_root, "--start-date", "2024-04-01"]
    code = main(["load", *arguments, "--end-date", "2024-04-02", "--no-progress"])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert error.startswith("error: HTTP 401")
    assert "invalid or expired" in error
    assert "wrong-token-value" not in error
    assert main(["load", *arguments, "--end-date", "2024-03-01"]) == 2, "a usage error"
    assert "not before end_date" in capsys.readouterr().err


def test_help_documents_every_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process: test_cli_config starts `python -m coveo_ua_source.cli load --help`."""
    monkeypatch.setenv("COLUMNS", "80")  # as in a pipe, whatever terminal runs the tests
    with pytest.raises(SystemExit) as exited:
        main(["load", "--help"])
    assert exited.value.code == 0
    stdout = capsys.readouterr().out
    for option in ("--start-date", "--end-date", "--tables", "--window", "--lookback",
                   "--org-id", "--region", "--base-url", "--destination", "--dataset-name",
                   "--pipeline-name", "--export-format"):  # fmt: skip
        assert option in stdout
    for default in ("P1D", "PT0S", "all", "us", "coveo_ua", "EXCEL"):
        assert f"(default: {default})" in stdout
    flat = " ".join(stdout.split())
    assert "(default: as the pipeline's last load, else duckdb)" in flat
    assert "(default: as the pipeline's last load, else usage_analytics)" in flat


def test_public_names_are_listed_sorted() -> None:
    public = {
        name
        for name, value in vars(coveo_ua_source).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }

    def isort_style(name: str) -> tuple[int, str]:  # constants, classes, then functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert coveo_ua_source.__all__ == sorted(coveo_ua_source.__all__, key=isort_style)
    assert set(coveo_ua_source.__all__) == public
    assert {"coveo_ua_source", "plan_load", "create_views", "CoveoUAError"} <= public
