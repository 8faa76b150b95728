"""The shipped Dagster definitions, really run by Dagster against the simulator.

Dagster lives in its own virtual environment (``.ci/dagster.sh`` installs a pinned
release with ``dagster-dlt``); ``COVEO_UA_DAGSTER`` names its ``dagster`` executable. CI
sets it and these tests fail there without it; elsewhere they are skipped. The backfill's
daily partitions are materialized by ``dagster asset materialize`` processes started at
once, each run in a process of its own with the connection given only in the
environment, into one dataset (PostgreSQL when ``COVEO_UA_TEST_POSTGRES`` is set, else a
DuckDB file); every table is then checked against the ground truth, the exports created
against the windows, and that no export is left on the simulator.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import dlt
import pytest
from helpers import TOKEN, assert_loaded_match, loaded_tables, utc
from helpers.postgres import scheduler_destination

from coveo_ua_simulator import Simulator
from coveo_ua_source.schema import TABLES

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dagster")]

REPO = Path(__file__).resolve().parents[2]
DEFINITIONS = REPO / "coveo_ua_source" / "templates" / "project" / "coveo_ua_dagster.py"
DAGSTER = os.environ.get("COVEO_UA_DAGSTER")
START = utc(2024, 3, 1)
RUN_TIMEOUT = 240  # seconds for one dagster command


def _require_dagster() -> str:
    if not DAGSTER:
        message = "COVEO_UA_DAGSTER is not set: run `bash .ci/dagster.sh` and export its output"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return DAGSTER


class Deployment:
    """The environment a Dagster run worker would have: the connection only in env variables."""

    def __init__(self, dagster: str, simulator: Simulator, tmp_path: Path) -> None:
        self.dagster = dagster
        self.simulator = simulator
        self.tmp_path = tmp_path
        self.dataset = f"dagster_{uuid.uuid4().hex[:8]}"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION"))
        }
        self.env.pop("DAGSTER_HOME", None)  # each run on an ephemeral instance of its own
        self.env.update(
            SOURCES__COVEO_UA__ACCESS_TOKEN=TOKEN,
            SOURCES__COVEO_UA__BASE_URL=simulator.api_root,
            SOURCES__COVEO_UA__POLL_INTERVAL="0.05",
            COVEO_UA_START_DATE=START.date().isoformat(),
            COVEO_UA_DATASET=self.dataset,
            RUNTIME__DLTHUB_TELEMETRY="false",
            DAGSTER_DISABLE_TELEMETRY="true",
            DLT_DATA_DIR=str(tmp_path / "dlt"),
        )
        destination_env, self.destination = scheduler_destination(tmp_path / "dagster.duckdb")
        self.env.update(destination_env)

    def materialize_at_once(self, partitions: list[str], select: str = "*") -> list[str]:
        """Start one ``dagster asset materialize`` per partition at once; their outputs."""
        command = [self.dagster, "asset", "materialize", "-f", str(DEFINITIONS), "--select", select]
        processes = [
            subprocess.Popen(
                [*command, "--partition", partition],
                env={**self.env, "PYTHONUNBUFFERED": "1"},  # whole lines on the shared pipe
                cwd=self.tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for partition in partitions
        ]
        try:
            outputs = [process.communicate(timeout=RUN_TIMEOUT)[0] for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
        for partition, process, output in zip(partitions, processes, outputs, strict=True):
            assert process.returncode == 0, f"partition {partition} failed:\n{output[-4000:]}"
        return outputs

    def assert_loaded(self, start: datetime, end: datetime) -> None:
        reader = dlt.pipeline(
            pipeline_name=f"reader_{self.dataset}",
            destination=self.destination,
            dataset_name=self.dataset,
            pipelines_dir=str(self.tmp_path / "reader"),
        )
        assert_loaded_match(loaded_tables(reader, TABLES), self.simulator, end, start=start)

    def windows_exported(self) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
        exports = self.simulator.exports.values()
        return sorted((export.start, export.end, tuple(export.tables)) for export in exports)

    def assert_none_left(self) -> None:
        left = [e.id for e in self.simulator.exports.values() if not e.deleted]
        assert not left, f"exports left on the service: {left}"


@pytest.fixture
def deployment(start_simulator: Callable[..., Simulator], tmp_path: Path) -> Deployment:
    return Deployment(_require_dagster(), start_simulator(), tmp_path)


def _days(first: datetime, count: int) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
    days = [first + timedelta(days=n) for n in range(count)]
    return [(day, day + timedelta(days=1), TABLES) for day in days]


def test_daily_partitions_materialized_at_once_load_every_table_exactly(
    deployment: Deployment,
) -> None:
    partitions = ["2024-03-01", "2024-03-02", "2024-03-03"]
    outputs = deployment.materialize_at_once(partitions)

    assert deployment.windows_exported() == _days(START, 3), "one export per partition day"
    deployment.assert_loaded(START, utc(2024, 3, 4))
    deployment.assert_none_left()
    for output in outputs:
        for table in TABLES:
            assert f"Materialized value coveo_ua {table}." in output, output
    steps = [_step_interval(output) for output in outputs]
    assert _most_at_once(steps) >= 2, f"the partitions loaded one after another: {steps}"


def test_definitions_import_without_any_configuration(tmp_path: Path) -> None:
    dagster = _require_dagster()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION"))}
    env = {k: v for k, v in env.items() if not k.startswith(("COVEO_UA_", "DAGSTER_HOME"))}
    done = subprocess.run(
        [dagster, "asset", "list", "-f", str(DEFINITIONS)],
        env={**env, "DLT_DATA_DIR": str(tmp_path / "dlt")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == [f"coveo_ua/{table}" for table in sorted(TABLES)]


# Searched anywhere in a line: stdout and stderr share one pipe, and a block of stdout
# written without its line's end can come just before one of Dagster's log lines.
STEP_EVENT = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}) - dagster - \w+ - .* - "
    r"(STEP_START|STEP_SUCCESS) - "
)


def _step_interval(output: str) -> tuple[datetime, datetime]:
    """When the run's step started and succeeded, from Dagster's event log lines."""
    events: dict[str, datetime] = {}
    for line in output.splitlines():
        if match := STEP_EVENT.search(line):
            events[match[2]] = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S %z")
    return events["STEP_START"], events["STEP_SUCCESS"]


def _most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals that were open at one instant (the log has whole seconds)."""
    steps = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    running = most = 0
    for _, step in sorted(steps):  # at one instant, an end comes before a start
        running += step
        most = max(most, running)
    return most
