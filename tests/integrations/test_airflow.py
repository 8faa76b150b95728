"""The shipped Airflow DAGs, really run by Airflow against the simulator.

Airflow lives in its own virtual environment (``.ci/airflow.sh`` installs a pinned
release); ``COVEO_UA_AIRFLOW`` names its ``airflow`` executable. CI sets it and these
tests fail there without it; elsewhere they are skipped. Each test runs ``airflow dags
test`` (and ``airflow tasks test``) as subprocesses with the connection given only in
the environment, loads into PostgreSQL when ``COVEO_UA_TEST_POSTGRES`` is set (else a
DuckDB file), and checks every table against the ground truth, the exports created
against the windows, and that no export is left on the simulator.

``airflow dags test`` runs a DAG's tasks one after another in one process. One test
serves Airflow as deployed instead (api-server, scheduler with the LocalExecutor and
dag-processor as separate processes on a PostgreSQL metadata database of its own) and
checks that the backfill's partitions, running at once as separate processes, load one
PostgreSQL dataset exactly.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dlt
import psycopg2
import pytest
import requests
from dlt.pipeline.pipeline import Pipeline
from helpers import TOKEN, assert_loaded_match, loaded_tables, utc
from helpers.postgres import postgres_url, scheduler_destination

from coveo_ua_simulator import Simulator
from coveo_ua_source.schema import TABLES

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow")]  # one Airflow home

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "coveo_ua_source" / "templates" / "project" / "dags"
AIRFLOW = os.environ.get("COVEO_UA_AIRFLOW")
START = utc(2024, 3, 1)
RUN_TIMEOUT = 240  # seconds for one airflow command; a healthy one takes ~25 s
BACKFILL = "coveo_ua_backfill"
PARALLELISM = 4  # as many as the backfill's mapped task runs at once (max_active_tis_per_dag)
# Seconds from starting Airflow's services to the end of the DAG run: less than pytest's
# timeout, which ends the worker without teardown, so the test stops what it started.
SERVE_TIMEOUT = 200
STOP_TIMEOUT = 20  # seconds a service has to exit on SIGTERM before it is killed
# The scheduler's log server would listen on a fixed port; tasks write logs locally here.
SERVICES = (("api-server",), ("scheduler", "--skip-serve-logs"), ("dag-processor",))
HEALTHY = ("metadatabase", "scheduler", "dag_processor")
T = TypeVar("T")


def _require_airflow() -> None:
    if not AIRFLOW:
        message = "COVEO_UA_AIRFLOW is not set: run `bash .ci/airflow.sh` and export its output"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised Airflow home (SQLite metadata database) for this module's runs."""
    _require_airflow()
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
        if not airflow_secrets:  # docs/operations.md's advice when no dlt secrets are in Airflow
            self.env["PROVIDERS__ENABLE_AIRFLOW_SECRETS"] = "false"
        self.env.update(
            SOURCES__COVEO_UA__ACCESS_TOKEN=TOKEN,
            SOURCES__COVEO_UA__BASE_URL=simulator.api_root,
            SOURCES__COVEO_UA__START_DATE=START.isoformat(),
            SOURCES__COVEO_UA__POLL_INTERVAL="0.05",
            COVEO_UA_DATASET=self.dataset,
        )
        destination_env, self.destination = scheduler_destination(tmp_path / "airflow.duckdb")
        self.env.update(destination_env)
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


@dataclass
class _Service:
    """One of Airflow's long-running processes, its output in a file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return f"--- {self.name} ---\n{self.log.read_text(errors='replace')[-4000:]}"


class ServedDeployment(Deployment):
    """A Deployment that Airflow serves as in production: the api-server, the scheduler
    with the LocalExecutor and the dag-processor, as separate processes on a PostgreSQL
    metadata database, so that mapped task instances run at once as separate processes.
    The test reaches Airflow through its REST API, every user an admin."""

    def __init__(self, simulator: Simulator, tmp_path: Path, metadata: str) -> None:
        self.home = tmp_path / "airflow_home"
        # Without dlt's lookups of Airflow Variables (docs/operations.md's advice): each one is a
        # request to the api-server, and they would make most of a task's time.
        super().__init__(self.home, simulator, tmp_path, airflow_secrets=False)
        port = _free_port()
        self.api = f"http://127.0.0.1:{port}"
        self.services: list[_Service] = []
        self.env.update(
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata,
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM=str(PARALLELISM),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.api}/execution/",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__API__BASE_URL=self.api,
            # Tasks authenticate to the Execution API with tokens the scheduler signs; 64
            # bytes, the least that PyJWT accepts for HS512 without a warning.
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(32),
        )

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Airflow's services running; at the end each one is stopped, and what it started."""
        self.airflow("db", "migrate")
        folder = self.home / "services"
        folder.mkdir()
        try:
            for arguments in SERVICES:
                self.services.append(_start_service(arguments, self.env, folder))
            yield
        finally:
            _stop_services(self.services)

    def rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer of Airflow's REST API; fails the test on an error status."""
        answer = requests.request(method, f"{self.api}/api/v2/{path}", json=body, timeout=30)
        assert answer.ok, f"{method} {path}: {answer.status_code} {answer.text[:2000]}"
        return answer.json()

    def wait_until_ready(self, deadline: float) -> None:
        self.poll(deadline, "healthy services and a parsed backfill DAG", self._ready)

    def _ready(self) -> bool | None:
        try:
            health = requests.get(f"{self.api}/api/v2/monitor/health", timeout=5).json()
            dag = requests.get(f"{self.api}/api/v2/dags/{BACKFILL}", timeout=5)
        except requests.RequestException:  # the api-server is not answering yet
            return None
        healthy = all(health.get(part, {}).get("status") == "healthy" for part in HEALTHY)
        return True if healthy and dag.ok else None

    def trigger(self, dag_id: str, conf: dict[str, str]) -> str:
        """Unpause the DAG (DAGs are paused at creation: the daily one stays so) and run it."""
        self.rest("PATCH", f"dags/{dag_id}", {"is_paused": False})
        run_id = f"parallel_{uuid.uuid4().hex[:8]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        self.rest("POST", f"dags/{dag_id}/dagRuns", body)
        return run_id

    def wait_for_run(self, dag_id: str, run_id: str, deadline: float) -> str:
        """The state the DAG run ends in."""

        def ended() -> str | None:
            state = str(self.rest("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"])
            return state if state in ("success", "failed") else None

        return self.poll(deadline, f"end of the DAG run {run_id}", ended)

    def mapped_instances(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped"
        instances: list[dict[str, Any]] = self.rest("GET", path)["task_instances"]
        return instances

    def poll(self, deadline: float, what: str, done: Callable[[], T | None]) -> T:
        """``done()``'s first answer other than None; fails if a service exits before it."""
        while (answer := done()) is None:
            exited = [s.name for s in self.services if s.process.poll() is not None]
            if exited or time.monotonic() > deadline:
                reason = f"{exited} exited" if exited else "timed out"
                pytest.fail(f"{reason} waiting for the {what}\n{self.report()}")
            time.sleep(0.5)
        return answer

    def report(self) -> str:
        """The end of each service's output and of each task's log, for a failure message."""
        tails = [service.tail() for service in self.services]
        for log in sorted((self.home / "logs").glob("dag_id=*/**/*.log")):
            text = log.read_text(errors="replace")[-3000:]
            tails.append(f"--- {log.relative_to(self.home)} ---\n{text}")
        return "\n".join(tails)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start_service(arguments: tuple[str, ...], env: dict[str, str], folder: Path) -> _Service:
    assert AIRFLOW is not None
    log = folder / f"{arguments[0]}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [AIRFLOW, *arguments],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return _Service(arguments[0], process, log)


def _stop_services(services: list[_Service]) -> None:
    """SIGTERM each service, SIGKILL it after STOP_TIMEOUT, then kill any process it started
    that outlived it (a task runner has a process group of its own)."""
    started: dict[int, str] = {}
    for service in services:
        started.update(_descendants(service.process.pid))
        if service.process.poll() is None:
            service.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for service in services:
        try:
            service.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
    for pid, since in started.items():
        if _processes().get(pid, (0, ""))[1] == since:  # the same process, not a reused pid
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _processes() -> dict[int, tuple[int, str]]:
    """Each live process's parent and start time, from Linux's /proc."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        with suppress(OSError, ValueError, IndexError):  # a process that just ended
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def _descendants(root: int) -> dict[int, str]:
    """The processes under ``root`` (children, their children, ...) and their start times."""
    table = _processes()
    found: dict[int, str] = {}
    parents = [root]
    while parents:
        parent = parents.pop()
        for pid, (ppid, since) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = since
                parents.append(pid)
    return found


@contextmanager
def _metadata_database(server: str) -> Iterator[str]:
    """A new database on the test server for one Airflow's metadata, dropped afterwards."""
    name = f"airflow_meta_{uuid.uuid4().hex[:8]}"
    try:
        _administer(server, f"CREATE DATABASE {name}")
    except psycopg2.errors.InsufficientPrivilege as error:
        pytest.fail(f"the test role needs CREATEDB (run `bash .ci/postgres.sh`): {error}")
    try:
        # The driver named: Airflow's SQLAlchemy takes psycopg 3 for postgresql:// alone.
        url = urlsplit(server)._replace(scheme="postgresql+psycopg2", path=f"/{name}")
        yield url.geturl()
    finally:
        _administer(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _administer(server: str, statement: str) -> None:
    connection = psycopg2.connect(server)
    try:
        connection.autocommit = True  # CREATE and DROP DATABASE refuse a transaction
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture
def served(start_simulator: Callable[..., Simulator], tmp_path: Path) -> Iterator[ServedDeployment]:
    _require_airflow()
    with _metadata_database(postgres_url()) as metadata:
        yield ServedDeployment(start_simulator(), tmp_path, metadata)


def _days(first: datetime, count: int) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
    days = [first + timedelta(days=n) for n in range(count)]
    return [(day, day + timedelta(days=1), TABLES) for day in days]


def test_daily_dag_loads_each_window_once_and_a_fresh_task_only_the_new_one(
    deployment: Deployment,
) -> None:
    # The data interval of logical date 2024-03-03 ends at 2024-03-03: two day windows. This
    # run skips dlt's Airflow Variable lookups (docs/operations.md's advice); the next one does not.
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


def test_backfill_partitions_run_at_once_under_the_local_executor_into_one_dataset(
    served: ServedDeployment,
) -> None:
    conf = {"start_date": "2024-03-10", "end_date": "2024-03-14", "partition": "P1D"}
    deadline = time.monotonic() + SERVE_TIMEOUT
    with served.serving():
        served.wait_until_ready(deadline)
        run_id = served.trigger(BACKFILL, conf)
        state = served.wait_for_run(BACKFILL, run_id, deadline)
        assert state == "success", f"the backfill run {state}\n{served.report()}"
        instances = served.mapped_instances(BACKFILL, run_id, "load_partition")

    assert [ti["state"] for ti in instances] == ["success"] * 4, "one task per partition day"
    assert len({ti["pid"] for ti in instances}) == 4, "each task in a process of its own"
    intervals = [(ti["start_date"], ti["end_date"]) for ti in instances]
    assert _most_at_once(intervals) >= 3, f"the partitions ran one after another: {intervals}"
    first = utc(2024, 3, 10)
    assert served.windows_exported() == _days(first, 4), "one export per partition day"
    served.assert_loaded(first, utc(2024, 3, 14))
    served.assert_none_left()


def _most_at_once(intervals: list[tuple[str, str]]) -> int:
    """The most intervals (ISO start and end) that were open at one instant."""
    steps = [(datetime.fromisoformat(start), 1) for start, _ in intervals]
    steps += [(datetime.fromisoformat(end), -1) for _, end in intervals]
    running = most = 0
    for _, step in sorted(steps):  # at one instant, an end comes before a start
        running += step
        most = max(most, running)
    return most


def test_dag_files_import_without_any_configuration(airflow_home: Path) -> None:
    env = _base_env(airflow_home)  # no SOURCES__* or DESTINATION__* at all
    dags = _json_output(_airflow(["dags", "list", "--local", "-o", "json"], env))
    # A file that fails to import lists no DAG; only then ask Airflow why (one command less).
    if {dag["dag_id"] for dag in dags} != {"coveo_ua_daily", "coveo_ua_backfill"}:
        errors = _airflow(["dags", "list-import-errors", "--local", "-o", "json"], env)
        pytest.fail(f"the DAG files do not import: {dags}\n{errors[-4000:]}")


def test_dag_files_use_no_deprecated_airflow_name(airflow_home: Path) -> None:
    assert AIRFLOW is not None
    python = Path(AIRFLOW).with_name("python")
    check = (
        "import sys, warnings\n"
        "warnings.simplefilter('always')\n"
        f"sys.path.insert(0, {str(DAGS)!r})\n"
        "import coveo_ua_backfill, coveo_ua_daily\n"
    )
    done = subprocess.run(
        [str(python), "-c", check], env=_base_env(airflow_home), capture_output=True,
        text=True, timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr  # Airflow logs warnings rather than raising them
    assert done.returncode == 0, output[-2000:]
    assert "deprecated" not in output.lower(), output[-2000:]


def _json_output(output: str) -> Any:
    """The JSON document of a command's output (Airflow prints warnings before it)."""
    lines = [line for line in output.splitlines() if line.startswith("[")]
    assert lines, f"no JSON in the output:\n{output[-2000:]}"
    return json.loads(lines[-1])
