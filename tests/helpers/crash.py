"""Runs tests/crash_driver.py in a forked process, kills it at a chosen point, reads its files."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
from crash_driver import DATASET_NAME, PIPELINE_NAME
from dlt.pipeline.pipeline import Pipeline

from coveo_ua_simulator import Simulator
from coveo_ua_source.schema import TABLES, TTable
from helpers import TOKEN, assert_rows_equal, expected_rows, forked, table_rows, utc
from helpers.forked import ForkedProcess

START, END = utc(2024, 3, 1), utc(2024, 3, 4)
WINDOWS = [(START + timedelta(days=n), START + timedelta(days=n + 1)) for n in range(3)]
WAIT = 30.0  # seconds to wait for a kill point or for a run to finish
BUILDING = 2  # exports built at once: the connector's DEFAULT_MAX_CONCURRENT_EXPORTS


@dataclass
class Driver:
    """Runs crash_driver.py against one simulator, with everything in tmp_path."""

    simulator: Simulator
    root: Path
    processes: list[ForkedProcess] = field(default_factory=list)
    runs: int = 0
    folder: str = "pipelines"  # the pipelines folder under root; a new one = a fresh worker
    options: tuple[str, ...] = ()  # given to every run (e.g. another destination)

    @property
    def pipelines_dir(self) -> Path:
        return self.root / self.folder

    @property
    def workdir(self) -> Path:
        """Where the source downloads its zips."""
        return self.pipelines_dir / PIPELINE_NAME / "coveo_ua_exports"

    def start(self, *options: str) -> ForkedProcess:
        """Start one run; its events, stdout and stderr go to files numbered by run.

        The run is a process forked from one that imported dlt already (helpers.forked):
        a separate process, killed by SIGKILL like any other, started in milliseconds.
        """
        self.runs += 1
        argv = [
            "--api-root", self.simulator.api_root,
            "--database", str(self.root / "crash.duckdb"),
            "--pipelines-dir", str(self.pipelines_dir),
            "--start", START.isoformat(), "--end", END.isoformat(),
            "--events", str(self.file("events.jsonl")), *self.options, *options,
        ]  # fmt: skip
        environment = {
            **os.environ,
            "SOURCES__COVEO_UA__ACCESS_TOKEN": TOKEN,
            "DLT_DATA_DIR": str(self.root / "dlt"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        for name in ("stdout", "stderr"):
            self.file(name).write_text("")  # output() can read it before the child opens it
        process = forked.start(
            "crash_driver:main", argv, environment=environment, cwd=self.root,
            stdout=self.file("stdout"), stderr=self.file("stderr"),
        )  # fmt: skip
        self.processes.append(process)
        return process

    def file(self, name: str, run: int | None = None) -> Path:
        return self.root / f"run{run or self.runs}-{name}"

    def finish(self, *options: str) -> dict[str, Any]:
        """Run the driver to completion; returns its JSON summary."""
        process = self.start(*options)
        try:
            code = process.wait(timeout=WAIT * 2)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run {self.runs} did not finish: {self.output()}")
        assert code == 0, f"run {self.runs} failed ({code}): {self.output()}"
        lines = self.file("stdout").read_text().strip().splitlines()
        summary: dict[str, Any] = json.loads(lines[-1])
        return summary

    def kill_when(self, process: ForkedProcess, ready: Callable[[], bool]) -> None:
        """SIGKILL the process as soon as ``ready()``; fails if it ends or times out first."""
        deadline = time.monotonic() + WAIT
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"run {self.runs} ended ({process.returncode}) before its kill point")
            if time.monotonic() > deadline:
                pytest.fail(f"run {self.runs} never reached its kill point: {self.output()}")
            time.sleep(0.02)
        process.kill()
        assert process.wait(timeout=10) == -9

    def output(self) -> str:
        return self.file("stderr").read_text()[-3000:]

    def events(self, run: int, kind: str) -> list[dict[str, Any]]:
        path = self.file("events.jsonl", run)
        lines = path.read_text().splitlines() if path.exists() else []
        return [event for line in lines if (event := json.loads(line))["kind"] == kind]

    def pipeline(self) -> Pipeline:
        """The driver's pipeline, attached in this process to read its state and tables."""
        return dlt.pipeline(
            pipeline_name=PIPELINE_NAME,
            destination=dlt.destinations.duckdb(str(self.root / "crash.duckdb")),
            dataset_name=DATASET_NAME,
            pipelines_dir=str(self.pipelines_dir),
        )

    def expected(self, table: TTable) -> list[dict[str, Any]]:
        """The simulator's ground truth of ``table`` over START..END."""
        return expected_rows(self.simulator, table, START, END)

    def loaded(self) -> tuple[dict[TTable, list[dict[str, Any]]], list[tuple[Any, ...]]]:
        """Every table's rows (as ``loaded_rows`` reads them) and the (table_name,
        window_start) rows of ``_coveo_ua_windows``, read over one connection."""
        with self.pipeline().sql_client() as client:
            tables = {table: table_rows(client, table) for table in TABLES}
            name = client.make_qualified_table_name("_coveo_ua_windows")
            windows = client.execute_sql(f"SELECT table_name, window_start FROM {name}")
        return tables, [tuple(row) for row in windows or []]

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def assert_loaded_like_ground_truth(driver: Driver) -> None:
    """Every table equals the ground truth; one bookkeeping row per table and window."""
    tables, windows = driver.loaded()
    for table in TABLES:
        expected = driver.expected(table)
        assert expected, f"the simulator produced no {table} rows; the test proves nothing"
        assert_rows_equal(tables[table], expected, table)
    assert len(windows) == len(set(windows)) == len(TABLES) * len(WINDOWS), (
        "one row per table and window"
    )


def hold_pending(simulator: Simulator) -> None:
    """Keep the next BUILDING exports created PENDING for longer than any kill point waits.

    The run is killed while it polls them, however slowly this process reacts to their
    first poll; ``simulator.end_slow_builds()`` then lets the rerun find them ready at its
    first poll.
    """
    simulator.inject("slow", count=BUILDING, seconds=WAIT * 4)
