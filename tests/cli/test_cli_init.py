"""`coveo-ua init`: the files it writes, what it refuses, and a project that loads as written."""

from __future__ import annotations

import re
import tomllib
import typing
import uuid
from pathlib import Path
from typing import Any

import dlt
import pytest
from helpers import TOKEN, assert_loaded_match, forked, loaded_tables, utc
from helpers.cli import cli_environment
from helpers.postgres import postgres_url

from coveo_ua_simulator import Simulator
from coveo_ua_source.cli.main import main
from coveo_ua_source.cli.scaffold import (
    AIRFLOW,
    DAGSTER,
    DESTINATIONS,
    PIPELINES,
    source_defaults,
    toml_value,
)
from coveo_ua_source.schema import TABLES

REPO = Path(__file__).resolve().parents[2]
PROJECT_TEMPLATES = REPO / "coveo_ua_source" / "templates" / "project"
START, MIDDLE, END = utc(2024, 4, 1), utc(2024, 4, 2), utc(2024, 4, 3)


def init(folder: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    return main(["init", *argv])


def uncommented(text: str) -> str:
    """The file with every option line uncommented, as a user would to change them."""
    return re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)


def set_option(path: Path, name: str, value: Any) -> None:
    """Set one option of a written TOML file, on the line init wrote for it."""
    text = path.read_text("utf-8")
    line = re.compile(rf"^(# )?{name} = .*$", re.MULTILINE)
    assert len(line.findall(text)) == 1, f"init writes one line for {name} in {path.name}"
    path.write_text(line.sub(f"{name} = {toml_value(value)}", text), "utf-8")


def test_config_has_every_source_option_with_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert init(tmp_path, monkeypatch) == 0
    text = (tmp_path / ".dlt" / "config.toml").read_text("utf-8")
    written = tomllib.loads(text)
    every = tomllib.loads(uncommented(text))["sources"]["coveo_ua"]
    defaults = source_defaults()
    assert set(defaults) - set(every) == {"access_token"}, "the token is a secret"
    assert set(every) <= set(defaults), "no option the source does not take"
    for name, default in defaults.items():
        if default is not None and name != "start_date":
            assert every[name] == (list(default) if isinstance(default, tuple) else default)
        assert name == "access_token" or f"# {name}: " in text, f"{name} is explained"
    assert set(written["sources"]["coveo_ua"]) == {"start_date"}, "only the required one set"
    assert written["coveo_ua"] == {"destination": "duckdb", "dataset_name": "usage_analytics"}
    secrets = tomllib.loads((tmp_path / ".dlt" / "secrets.toml").read_text("utf-8"))
    assert secrets["sources"]["coveo_ua"] == {"access_token": ""}


def test_init_writes_the_templates_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(tmp_path, monkeypatch, "--all") == 0
    templates = {
        str(path.relative_to(PROJECT_TEMPLATES))
        for path in PROJECT_TEMPLATES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert templates == {*PIPELINES, *AIRFLOW, *DAGSTER}, "every template is written"
    for name in templates:
        assert (tmp_path / name).read_bytes() == (PROJECT_TEMPLATES / name).read_bytes(), name
    output = capsys.readouterr().out
    for name in (*templates, ".dlt/config.toml", ".dlt/secrets.toml", ".gitignore"):
        assert name in output
    assert "coveo-ua plan" in output
    assert "python coveo_ua_pipeline.py" in output
    assert (tmp_path / ".gitignore").read_text("utf-8") == ".dlt/secrets.toml\n"


@pytest.mark.parametrize(
    ("flags", "extra"),
    [
        pytest.param([], set(), id="pipelines"),
        pytest.param(["--airflow"], set(AIRFLOW), id="airflow"),
        pytest.param(["--dagster"], set(DAGSTER), id="dagster"),
    ],
)
def test_the_dags_and_dagster_only_on_request(
    flags: list[str], extra: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert init(tmp_path, monkeypatch, *flags) == 0
    scripts = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.py")}
    assert scripts == {*PIPELINES, *extra}


def test_an_existing_file_is_named_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "backfill.py").write_text("mine\n", "utf-8")
    (tmp_path / ".gitignore").write_text("*.duckdb", "utf-8")
    assert init(tmp_path, monkeypatch, "postgres") == 2
    error = capsys.readouterr().err
    assert "backfill.py exists already" in error
    assert "wrote nothing" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "backfill.py"]
    assert (tmp_path / "backfill.py").read_text("utf-8") == "mine\n"
    assert (tmp_path / ".gitignore").read_text("utf-8") == "*.duckdb"


def test_gitignore_gets_the_secrets_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".gitignore").write_text("*.duckdb", "utf-8")
    assert init(tmp_path, monkeypatch) == 0
    assert (tmp_path / ".gitignore").read_text("utf-8") == "*.duckdb\n.dlt/secrets.toml\n"
    again = tmp_path / "again"
    again.mkdir()
    (again / ".gitignore").write_text("/.dlt/secrets.toml\n", "utf-8")
    assert init(again, monkeypatch) == 0
    assert (again / ".gitignore").read_text("utf-8") == "/.dlt/secrets.toml\n"


def credential_fields(destination: str) -> tuple[set[str], set[str]]:
    """The options of dlt's ``destination``, and those of its credentials (any kind)."""
    spec = getattr(dlt.destinations, destination)().spec
    fields = spec.get_resolvable_fields()
    kinds = typing.get_args(fields["credentials"]) or (fields["credentials"],)
    credentials = {
        name for kind in kinds if hasattr(kind, "get_resolvable_fields")
        for name in kind.get_resolvable_fields()
    }  # fmt: skip
    return set(fields), credentials


@pytest.mark.parametrize("destination", list(DESTINATIONS))
def test_each_destination_gets_the_credentials_dlt_expects(
    destination: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert init(tmp_path, monkeypatch, destination) == 0
    config = tomllib.loads((tmp_path / ".dlt" / "config.toml").read_text("utf-8"))
    assert config["coveo_ua"]["destination"] == destination
    secrets = tomllib.loads((tmp_path / ".dlt" / "secrets.toml").read_text("utf-8"))
    options, credentials = credential_fields(destination)
    written = secrets.get("destination", {}).get(destination, {})
    assert set(secrets.get("destination", {})) <= {destination}
    assert set(written) <= options, "options dlt's destination takes"
    if isinstance(written.get("credentials"), dict):
        assert set(written["credentials"]) <= credentials, "its credentials' own fields"
    if destination == "duckdb":
        assert written == {}, "DuckDB needs no credentials"
    else:
        assert written.get("credentials") or written.get("bucket_url"), "something to fill in"


def point_at_simulator(project: Path, simulator: Simulator) -> None:
    """What a user edits after init, with the simulator as the Coveo organization."""
    config, secrets = project / ".dlt" / "config.toml", project / ".dlt" / "secrets.toml"
    set_option(config, "base_url", simulator.api_root)
    set_option(config, "start_date", START.isoformat())
    set_option(config, "end_date", END.isoformat())
    set_option(config, "poll_interval", 0.01)
    set_option(secrets, "access_token", TOKEN)


def run_project(project: Path, tmp_path: Path) -> None:
    """The two scripts as a user runs them from the project: a backfill of the first day,
    then the incremental load carries on to the end."""
    environment = cli_environment(tmp_path)
    for variable in ("COVEO_UA_DESTINATION", "COVEO_UA_DATASET"):
        environment.pop(variable, None)
    target = "helpers.targets:run_script"
    backfill = ["backfill.py", f"--start-date={START.date()}", f"--end-date={MIDDLE.date()}"]
    for argv in (backfill, ["coveo_ua_pipeline.py"]):
        label = Path(argv[0]).stem
        forked.output_of(target, argv, environment=environment, cwd=project, label=label)


@pytest.mark.slow
def test_an_initialized_project_loads_the_ground_truth(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    assert init(project, monkeypatch) == 0
    point_at_simulator(project, simulator)
    run_project(project, tmp_path)
    reader = dlt.pipeline(
        pipeline_name="coveo_ua",
        destination=dlt.destinations.duckdb(str(project / "coveo_ua.duckdb")),
        dataset_name="usage_analytics",
        pipelines_dir=str(tmp_path / "dlt" / "pipelines"),
    )
    assert_loaded_match(loaded_tables(reader, TABLES), simulator, END, start=START)
    assert simulator.created_count == 2, "one export a day: the backfill's, then the rest"


@pytest.mark.slow
@pytest.mark.postgres
def test_an_initialized_postgres_project_loads_the_ground_truth(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_url()
    project = tmp_path / "project"
    assert init(project, monkeypatch, "postgres") == 0
    point_at_simulator(project, simulator)
    dataset = f"init_{uuid.uuid4().hex[:8]}"
    set_option(project / ".dlt" / "config.toml", "dataset_name", dataset)
    set_option(project / ".dlt" / "secrets.toml", "credentials", url)
    reader = dlt.pipeline(
        pipeline_name=f"reader_{dataset}",
        destination=dlt.destinations.postgres(url),
        dataset_name=dataset,
        pipelines_dir=str(tmp_path / "reader"),
    )
    try:
        run_project(project, tmp_path)
        assert_loaded_match(loaded_tables(reader, TABLES), simulator, END, start=START)
    finally:
        with reader.sql_client() as client:
            for schema in (dataset, f"{dataset}_staging"):
                client.execute_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
