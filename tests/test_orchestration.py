"""Scheduler tasks without a scheduler: partitions, and runs that keep nothing locally."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import dlt
import pytest
from helpers import TOKEN, assert_loaded_match, loaded_tables, utc

from coveo_ua_source.orchestration import load_incremental, load_partition, partition_ranges
from coveo_ua_source.schema import TABLES
from coveo_ua_source.simulator import Simulator
from coveo_ua_source.warehouse.views import create_views


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


def _assert_loaded(database: Path, dataset: str, simulator: Simulator, end_day: int) -> None:
    reader = dlt.pipeline(
        pipeline_name="reader",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=dataset,
        pipelines_dir=str(database.parent / "reader"),
    )
    assert_loaded_match(loaded_tables(reader, TABLES), simulator, utc(2024, 3, end_day))


def test_incremental_task_runs_keep_nothing_locally_and_export_each_window_once(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scratch = _configure(monkeypatch, simulator, tmp_path)
    database = tmp_path / "warehouse.duckdb"
    destination = dlt.destinations.duckdb(str(database))
    first = load_incremental(destination, dataset_name="tasks", end_date="2024-03-03")
    assert first["rows"]["searches"] > 0
    assert simulator.created_count == 2
    second = load_incremental(destination, dataset_name="tasks", end_date="2024-03-04")
    assert simulator.created_count == 3, "the second task exported only the new window"
    assert second["pipeline_name"] == "coveo_ua"
    assert all(export.deleted for export in simulator.exports.values())
    _assert_loaded(database, "tasks", simulator, 4)
    assert not list(scratch.iterdir()), "nothing is kept on the worker"


def test_partitions_load_disjoint_ranges_into_one_dataset(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _configure(monkeypatch, simulator, tmp_path)
    database = tmp_path / "lakehouse.duckdb"
    destination = dlt.destinations.duckdb(str(database))
    for partition in partition_ranges("2024-03-01", "2024-03-04", "P1D"):
        summary = load_partition(
            destination, partition["start_date"], partition["end_date"], dataset_name="lake"
        )
        assert summary["pipeline_name"].startswith("coveo_ua_partition_2024030")
    assert simulator.created_count == 3
    _assert_loaded(database, "lake", simulator, 4)


def test_a_task_with_an_unreachable_destination_keeps_no_folder(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scratch = _configure(monkeypatch, simulator, tmp_path)
    missing = tmp_path / "no" / "such" / "dir" / "x.duckdb"
    with pytest.raises(Exception):  # noqa: B017, PT011  # dlt wraps the destination's error
        load_incremental(dlt.destinations.duckdb(str(missing)), end_date="2024-03-02")
    assert not list(scratch.iterdir()), "the task's pipelines folder was removed"


def test_tasks_load_with_the_lean_defaults_but_keep_what_the_user_set(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from coveo_ua_source import orchestration

    _configure(monkeypatch, simulator, tmp_path)
    monkeypatch.setenv("LOAD__WORKERS", "2")  # the user's choice, kept
    limits: list[str] = []

    def views_after_reading_the_memory_limit(pipeline: Any) -> list[str]:
        with pipeline.sql_client() as client:
            limits.append(client.execute_sql("SELECT current_setting('memory_limit')")[0][0])
        return create_views(pipeline)

    monkeypatch.setattr(orchestration, "create_views", views_after_reading_the_memory_limit)
    database = tmp_path / "warehouse.duckdb"
    load_incremental(
        dlt.destinations.duckdb(str(database)), dataset_name="lean", end_date="2024-03-02"
    )
    assert limits == ["488.2 MiB"], "DuckDB's memory limit (512MB as DuckDB reports it)"
    assert os.environ["DATA_WRITER__COMPRESSION"] == "none"
    assert os.environ["LOAD__WORKERS"] == "2", "a setting the user configured is left alone"
    _assert_loaded(database, "lean", simulator, 2)
