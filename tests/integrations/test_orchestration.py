"""Scheduler tasks without a scheduler: partitions beside an incremental task (moving
neither its state nor each other's), and runs that keep nothing locally."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import TOKEN, assert_loaded_match, loaded_tables, utc
from helpers.open_database import database_kept_open
from helpers.partitions import (
    PARTITION_RANGES,
    PartitionTasks,
    environ_kept,
    run_partition_tasks,
)

from coveo_ua_simulator import Simulator, SimulatorConfig
from coveo_ua_source.dates import format_utc
from coveo_ua_source.orchestration import load_incremental, partition_ranges
from coveo_ua_source.schema import TABLES, TTable
from coveo_ua_source.warehouse.views import create_views

# Tests that read one module-scoped load run on one xdist worker, so the load is made once.
READS_INCREMENTAL_TASKS = pytest.mark.xdist_group("orchestration_incremental_tasks")
READS_PARTITION_TASKS = pytest.mark.xdist_group("orchestration_partition_tasks")


@pytest.mark.parametrize(
    ("start", "end", "size", "expected"),
    [
        pytest.param(
            "2024-01-01", "2024-01-15", "P7D",
            [("2024-01-01", "2024-01-08"), ("2024-01-08", "2024-01-15")], id="whole-weeks",
        ),
        pytest.param(
            "2024-01-01", "2024-01-10", "P7D",
            [("2024-01-01", "2024-01-08"), ("2024-01-08", "2024-01-10")], id="short-last",
        ),
        pytest.param("2024-01-01", "2024-01-02", "P7D", [("2024-01-01", "2024-01-02")], id="one"),
    ],
)  # fmt: skip
def test_partition_ranges_cover_the_range_without_overlap(
    start: str, end: str, size: str, expected: list[tuple[str, str]]
) -> None:
    ranges = partition_ranges(start, end, size)
    as_days = [(r["start_date"][:10], r["end_date"][:10]) for r in ranges]
    assert as_days == expected
    assert all(r["start_date"].endswith("T00:00:00.000Z") for r in ranges)


@pytest.mark.parametrize(
    ("start", "end", "size"),
    [
        pytest.param("2024-01-02", "2024-01-01", "P1D", id="inverted"),
        pytest.param("2024-01-01", "2024-01-02", "PT0S", id="zero-size"),
    ],
)
def test_partition_ranges_refuse_empty_ranges(start: str, end: str, size: str) -> None:
    with pytest.raises(ValueError, match="start < end and a positive size"):
        partition_ranges(start, end, size)


def _configure(monkeypatch: pytest.MonkeyPatch, simulator: Simulator, tmp_path: Path) -> Path:
    """The connection only in the environment, as on a scheduler's worker; returns the
    temporary folder the tasks' pipelines use."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("SOURCES__COVEO_UA__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SOURCES__COVEO_UA__BASE_URL", simulator.api_root)
    monkeypatch.setenv("SOURCES__COVEO_UA__START_DATE", "2024-03-01")
    monkeypatch.setenv("SOURCES__COVEO_UA__POLL_INTERVAL", "0.01")
    return scratch


def _read(database: Path, dataset: str) -> dict[TTable, list[dict[str, Any]]]:
    reader = dlt.pipeline(
        pipeline_name="reader",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=dataset,
        pipelines_dir=str(database.parent / "reader"),
    )
    return loaded_tables(reader, TABLES)


LEAN_SETTINGS = ("DATA_WRITER__COMPRESSION", "LOAD__DELETE_COMPLETED_JOBS", "LOAD__WORKERS")


@dataclass(frozen=True)
class Tasks:
    """Two incremental tasks on one worker (to 2024-03-03, then 2024-03-04), the user
    having set LOAD__WORKERS=3 between them: what they returned, exported and left behind."""

    simulator: Simulator
    summaries: list[dict[str, Any]]
    created_counts: list[int]
    all_exports_deleted: bool
    memory_limits: list[str]  # DuckDB's memory_limit, read where the views are made
    lean_settings: list[dict[str, str | None]]  # the environment after each task
    left_in_scratch: list[Path]
    rows: dict[TTable, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def incremental_tasks(
    module_pipelines: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tasks]:
    """Read only: the two tasks, run once for the module (``module_pipelines`` keeps the
    user's dlt config out, as for every test)."""
    folder = tmp_path_factory.mktemp("tasks")
    database = folder / "warehouse.duckdb"
    with Simulator(SimulatorConfig(token=TOKEN)) as simulator, environ_kept():
        with pytest.MonkeyPatch.context() as monkeypatch:
            scratch = _configure(monkeypatch, simulator, folder)
            limits = _spy_on_memory_limit(monkeypatch)
            destination = dlt.destinations.duckdb(str(database))
            first = load_incremental(destination, dataset_name="tasks", end_date="2024-03-03")
            created = [simulator.created_count]
            lean = [{name: os.environ.get(name) for name in LEAN_SETTINGS}]
            monkeypatch.setenv("LOAD__WORKERS", "3")  # the user's choice, kept
            # Held open from here only: the second task must set the memory limit itself.
            with database_kept_open(database):
                second = load_incremental(destination, dataset_name="tasks", end_date="2024-03-04")
            created.append(simulator.created_count)
            lean.append({name: os.environ.get(name) for name in LEAN_SETTINGS})
        deleted = all(export.deleted for export in simulator.exports.values())
        left = list(scratch.iterdir())
        rows = _read(database, "tasks")
        yield Tasks(simulator, [first, second], created, deleted, limits, lean, left, rows)


def _spy_on_memory_limit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from coveo_ua_source import recipe

    limits: list[str] = []

    def views_after_reading_the_memory_limit(pipeline: Any) -> list[str]:
        with pipeline.sql_client() as client:
            limits.append(client.execute_sql("SELECT current_setting('memory_limit')")[0][0])
        return create_views(pipeline)

    monkeypatch.setattr(recipe, "create_views", views_after_reading_the_memory_limit)
    return limits


@READS_INCREMENTAL_TASKS
def test_incremental_task_runs_keep_nothing_locally_and_export_each_window_once(
    incremental_tasks: Tasks,
) -> None:
    tasks = incremental_tasks
    first, second = tasks.summaries
    assert first["rows"]["searches"] > 0
    assert (first["exports_planned"], second["exports_planned"]) == (2, 1)
    assert (first["table_windows"], second["table_windows"]) == (2 * len(TABLES), len(TABLES))
    assert set(first["rejected_values"]) == set(TABLES), "the CLI's summary fields, per table"
    assert sum(first["rejected_values"].values()) > 0, "the simulator's unparsable values"
    assert first["rejected_rows"] == dict.fromkeys(sorted(TABLES), 0)
    assert tasks.created_counts[0] == 2
    assert tasks.created_counts[1] == 3, "the second task exported only the new window"
    assert second["pipeline_name"] == "coveo_ua"
    assert tasks.all_exports_deleted
    assert_loaded_match(tasks.rows, tasks.simulator, utc(2024, 3, 4))
    assert not tasks.left_in_scratch, "nothing is kept on the worker"


@READS_INCREMENTAL_TASKS
def test_tasks_load_with_the_lean_defaults_but_keep_what_the_user_set(
    incremental_tasks: Tasks,
) -> None:
    """Also the load under ``lean_load_defaults`` that test_lean_defaults.py points to."""
    tasks = incremental_tasks
    assert tasks.memory_limits == ["488.2 MiB"] * 2, "DuckDB's limit (512MB as it reports it)"
    assert tasks.lean_settings[0] == {
        "DATA_WRITER__COMPRESSION": "none", "LOAD__DELETE_COMPLETED_JOBS": "true",
        "LOAD__WORKERS": "2",
    }  # fmt: skip
    assert tasks.lean_settings[1]["LOAD__WORKERS"] == "3", "a setting the user configured is kept"
    assert_loaded_match(tasks.rows, tasks.simulator, utc(2024, 3, 4))


@pytest.fixture(scope="module")
def partition_tasks(
    module_pipelines: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Simulator, PartitionTasks]]:
    """Read only: incremental and partition tasks into one dataset (helpers/partitions.py),
    run once for the module."""
    folder = tmp_path_factory.mktemp("partitions")
    destination = dlt.destinations.duckdb(str(folder / "lakehouse.duckdb"))
    with Simulator(SimulatorConfig(token=TOKEN)) as simulator, pytest.MonkeyPatch.context() as mp:
        _configure(mp, simulator, folder)
        with database_kept_open(folder / "lakehouse.duckdb"):
            tasks = run_partition_tasks(simulator, destination, "lake", folder)
        yield simulator, tasks


@READS_PARTITION_TASKS
def test_partitions_load_disjoint_ranges_into_one_dataset(
    partition_tasks: tuple[Simulator, PartitionTasks],
) -> None:
    simulator, tasks = partition_tasks
    for partition, seen in zip(PARTITION_RANGES, tasks.partitions, strict=True):
        start, end = (partition[key] for key in ("start_date", "end_date"))
        assert seen.summary["pipeline_name"].startswith("coveo_ua_partition_2024030")
        assert [(format_utc(s), format_utc(e)) for s, e in seen.created] == [(start, end)]
        assert seen.deleted_its_own, f"{start}: its exports are deleted"
    assert_loaded_match(tasks.rows_after_partitions, simulator, utc(2024, 3, 3))


@READS_PARTITION_TASKS
def test_a_partition_neither_writes_nor_reads_positions(
    partition_tasks: tuple[Simulator, PartitionTasks],
) -> None:
    _, tasks = partition_tasks
    for seen in [*tasks.partitions, tasks.again]:
        assert not seen.wrote_positions, seen.summary["pipeline_name"]
    assert tasks.again.created == tasks.partitions[0].created, "state is not read"


@READS_PARTITION_TASKS
def test_partitions_leave_the_incremental_state_alone(
    partition_tasks: tuple[Simulator, PartitionTasks],
) -> None:
    simulator, tasks = partition_tasks
    assert tasks.first_incremental.wrote_positions, "the incremental task has positions"
    assert tasks.state_restored == tasks.first_incremental.source_state
    assert tasks.last_incremental.created == [(utc(2024, 3, 2), utc(2024, 3, 3))]
    assert_loaded_match(tasks.rows, simulator, utc(2024, 3, 3))


@READS_PARTITION_TASKS
def test_rows_of_a_partition_pipeline_make_the_incremental_run_merge(
    partition_tasks: tuple[Simulator, PartitionTasks],
) -> None:
    """Partition rows loaded ahead of the incremental position into the same dataset."""
    simulator, tasks = partition_tasks
    for seen in tasks.partitions:
        assert seen.dispositions == {"merge"}, "partition mode always merges"
    assert tasks.first_incremental.dispositions == {"append"}, "nothing loaded before it"
    assert tasks.last_incremental.dispositions == {"merge"}, "it overlaps the partitions'"
    assert_loaded_match(tasks.rows, simulator, utc(2024, 3, 3))


def test_a_task_with_an_unreachable_destination_keeps_no_folder(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scratch = _configure(monkeypatch, simulator, tmp_path)
    missing = tmp_path / "no" / "such" / "dir" / "x.duckdb"
    with pytest.raises(Exception):  # noqa: B017, PT011  # dlt wraps the destination's error
        load_incremental(dlt.destinations.duckdb(str(missing)), end_date="2024-03-02")
    assert not list(scratch.iterdir()), "the task's pipelines folder was removed"
