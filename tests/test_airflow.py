"""The shipped Airflow DAGs, really run by Airflow against the simulator.

Airflow lives in its own virtual environment (``.ci/airflow.sh`` installs a pinned
release); ``COVEO_UA_AIRFLOW`` names its ``airflow`` executable. CI sets it and these
tests fail there without it; elsewhere they are skipped. Each test runs ``airflow dags
test`` (and ``airflow tasks test``) as subprocesses with the connection given only in
the environment, loads into PostgreSQL when ``COVEO_UA_TEST_POSTGRES`` is set (else a
DuckDB file), and checks every table against the ground truth, the exports created
against the windows, and that no export is left on the simulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import TOKEN, assert_loaded_match, loaded_tables, utc

from coveo_ua_source.schema import TABLES
from coveo_ua_source.simulator import Simulator

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow")]  # one Airflow home

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "pipelines" / "airflow"
AIRFLOW = os.environ.get("COVEO_UA_AIRFLOW")
POSTGRES = os.environ.get("COVEO_UA_TEST_POSTGRES")
START = utc(2024, 3, 1)
RUN_TIMEOUT = 240  # seconds for one airflow command; a healthy one takes ~25 s


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised Airflow home (SQLite metadata database) for this module's runs."""
    if not AIRFLOW:
        message = "COVEO_UA_AIRFLOW is not set: run `bash .ci/airflow.sh` and export its output"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path_factory.mktemp("airflow_home")
    _airflow(["db", "migrate"], _base_env(home))
    return home


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        RUNTIME__DLTHUB_TELEMETRY="false",
        COVEO_UA_TASK_RETRIES="0",  # a failing task fails the test at once
    )
    return env


def _airflow(arguments: list[str], env: dict[str, str]) -> str:
    assert AIRFLOW is not None
    done = subprocess.run(
        [AIRFLOW, *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"airflow {' '.join(arguments)} failed:\n{output[-4000:]}"
    return output


class Deployment:
    """The environment a worker would have: the connection only in env variables."""

    def __init__(
        self, home: Path, simulator: Simulator, tmp_path: Path, airflow_secrets: bool = True
    ) -> None:
        self.simulator = simulator
        self.dataset = f"airflow_{uuid.uuid4().hex[:8]}"
        self.env = _base_env(home)
        if not airflow_secrets:  # the README's advice when no dlt secrets are in Airflow
            self.env["PROVIDERS__ENABLE_AIRFLOW_SECRETS"] = "false"
        self.env.update(
            SOURCES__COVEO_UA__ACCESS_TOKEN=TOKEN,
            SOURCES__COVEO_UA__BASE_URL=simulator.api_root,
            SOURCES__COVEO_UA__START_DATE=START.isoformat(),
            SOURCES__COVEO_UA__POLL_INTERVAL="0.05",
            COVEO_UA_DATASET=self.dataset,
        )
        if POSTGRES:
            self.env.update(
                COVEO_UA_DESTINATION="postgres", DESTINATION__POSTGRES__CREDENTIALS=POSTGRES
            )
            self.destination: Any = dlt.destinations.postgres(POSTGRES)
        else:
            database = str(tmp_path / "airflow.duckdb")
            self.env.update(
                COVEO_UA_DESTINATION="duckdb", DESTINATION__DUCKDB__CREDENTIALS=database
            )
            self.destination = dlt.destinations.duckdb(database)
        self.reader_dir = tmp_path / "reader"

    def airflow(self, *arguments: str) -> str:
        return _airflow(list(arguments), self.env)

    def reader(self) -> Pipeline:
        """A pipeline in the test process that only reads the loaded dataset."""
        return dlt.pipeline(
            pipeline_name=f"reader_{self.dataset}",
            destination=self.destination,
            dataset_name=self.dataset,
            pipelines_dir=str(self.reader_dir),
        )

    def assert_loaded(self, start: datetime, end: datetime) -> None:
        loaded = loaded_tables(self.reader(), TABLES)
        assert_loaded_match(loaded, self.simulator, end, start=start)

    def windows_exported(self) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
        exports = self.simulator.exports.values()
        return sorted((export.start, export.end, tuple(export.tables)) for export in exports)

    def assert_none_left(self) -> None:
        left = [e.id for e in self.simulator.exports.values() if not e.deleted]
        assert not left, f"exports left on the service: {left}"


@pytest.fixture
def deployment(
    airflow_home: Path, start_simulator: Callable[..., Simulator], tmp_path: Path
) -> Deployment:
    """A worker as dlt configures it by default: it also reads Airflow's dlt_secrets_toml."""
    return Deployment(airflow_home, start_simulator(), tmp_path)


@pytest.fixture
def deployment_without_airflow_secrets(
    airflow_home: Path, start_simulator: Callable[..., Simulator], tmp_path: Path
) -> Deployment:
    """A worker with PROVIDERS__ENABLE_AIRFLOW_SECRETS=false: no Airflow Variable lookups."""
    return Deployment(airflow_home, start_simulator(), tmp_path, airflow_secrets=False)


def _days(first: datetime, count: int) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
    days = [first + timedelta(days=n) for n in range(count)]
    return [(day, day + timedelta(days=1), TABLES) for day in days]


def test_daily_dag_loads_each_window_once_and_a_fresh_task_only_the_new_one(
    deployment: Deployment,
) -> None:
    # The data interval of logical date 2024-03-03 ends at 2024-03-03: two day windows. This
    # run skips dlt's Airflow Variable lookups (the README's advice); the next one does not.
    deployment.env["PROVIDERS__ENABLE_AIRFLOW_SECRETS"] = "false"
    deployment.airflow("dags", "test", "coveo_ua_daily", "2024-03-03")
    assert deployment.windows_exported() == _days(START, 2), "one export per window"
    deployment.assert_loaded(START, utc(2024, 3, 3))
    deployment.assert_none_left()

    # The next day's task alone, as a worker runs it: a new process, no local state, and
    # dlt's default providers (the Airflow Variable dlt_secrets_toml included).
    del deployment.env["PROVIDERS__ENABLE_AIRFLOW_SECRETS"]
    deployment.airflow("tasks", "test", "coveo_ua_daily", "load", "2024-03-04")
    assert deployment.windows_exported() == _days(START, 3), "only the new window"
    deployment.assert_loaded(START, utc(2024, 3, 4))
    deployment.assert_none_left()


def test_backfill_dag_maps_one_task_per_partition_into_the_same_dataset(
    deployment_without_airflow_secrets: Deployment,
) -> None:
    deployment = deployment_without_airflow_secrets
    conf = {"start_date": "2024-03-10", "end_date": "2024-03-13", "partition": "P1D"}
    deployment.airflow(
        "dags", "test", "coveo_ua_backfill", "2024-03-13", "--conf", json.dumps(conf)
    )
    first = utc(2024, 3, 10)
    assert deployment.windows_exported() == _days(first, 3), "one export per partition day"
    deployment.assert_loaded(first, utc(2024, 3, 13))
    deployment.assert_none_left()
    with deployment.reader().sql_client() as client:
        table = client.make_qualified_table_name("_dlt_pipeline_state")
        names = {row[0] for row in client.execute_sql(f"SELECT pipeline_name FROM {table}")}
    assert len(names) == 3, f"each partition runs as its own pipeline: {names}"
    assert "coveo_ua" not in names, "the incremental pipeline's state is untouched"


def test_dag_files_import_without_any_configuration(airflow_home: Path) -> None:
    env = _base_env(airflow_home)  # no SOURCES__* or DESTINATION__* at all
    dags = _json_output(_airflow(["dags", "list", "--local", "-o", "json"], env))
    # A file that fails to import lists no DAG; only then ask Airflow why (one command less).
    if {dag["dag_id"] for dag in dags} != {"coveo_ua_daily", "coveo_ua_backfill"}:
        errors = _airflow(["dags", "list-import-errors", "--local", "-o", "json"], env)
        pytest.fail(f"the DAG files do not import: {dags}\n{errors[-4000:]}")


def _json_output(output: str) -> Any:
    """The JSON document of a command's output (Airflow prints warnings before it)."""
    lines = [line for line in output.splitlines() if line.startswith("[")]
    assert lines, f"no JSON in the output:\n{output[-2000:]}"
    return json.loads(lines[-1])
