"""A service that answers wrongly: every answer that decides what is loaded is checked.

Each test loads from a simulator with a fault that makes it lie, and compares every table
with the ground truth: the lie never reaches the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import END, START, assert_tables_match, make_source

from coveo_ua_source.ingest.bookkeeping import REJECTED_TABLE
from coveo_ua_source.simulator import Simulator, SimulatorConfig, ground_truth

HOUR = timedelta(hours=1)


def rejected_rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(REJECTED_TABLE)
        sql = f"SELECT table_name, window_start, reason FROM {table} WHERE NOT _superseded"  # noqa: S608
        with client.execute_query(sql) as cursor:
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_an_export_answered_for_another_window_is_created_again(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    """The service answers the second window's create with the first window's export: its
    rows would be recorded as the second window's (doubled there, missing here)."""
    simulator.inject("same_export")
    pipeline = make_pipeline()
    source = make_source(simulator, max_concurrent_exports=1)
    pipeline.run(source).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)
    assert "describes the window [2024-03-01" in caplog.text
    windows = sorted((export.start, export.end) for export in simulator.exports.values())
    assert windows == [(START, START + timedelta(days=1)), (START + timedelta(days=1), END)]


def test_rows_outside_their_window_are_rejected_not_loaded(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    """Every export also holds the hour before its window: those rows belong to the
    window before, which loads them from its own export (or to no window at all)."""
    simulator.inject("wide", count=10, hours=1)
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)
    refused = rejected_rows(pipeline)
    config = SimulatorConfig(token=simulator.config.token)
    for table in ("searches", "clicks"):
        leaked = sum(
            len(ground_truth(config, table, start - HOUR, start)) for start, _ in day_windows()
        )
        mine = [row for row in refused if row["table_name"] == table]
        assert len(mine) == leaked, f"{table}: each row of the hour before is refused once"
        assert all("is outside the export's window" in row["reason"] for row in mine)


def day_windows() -> list[tuple[Any, Any]]:
    day = timedelta(days=1)
    return [(START, START + day), (START + day, END)]
