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
from helpers import END, START, MovableClock, assert_tables_match, make_source, utc

from coveo_ua_simulator import Simulator, SimulatorConfig, ground_truth
from coveo_ua_source import clock
from coveo_ua_source.warehouse.bookkeeping import REJECTED_TABLE

HOUR = timedelta(hours=1)


def rejected_rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(REJECTED_TABLE)
        sql = f"SELECT table_name, window_start, reason FROM {table} WHERE NOT _superseded"
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


def test_a_worker_clock_hours_ahead_plans_up_to_the_services_present(
    start_simulator: Callable[..., Simulator],
    make_pipeline: Callable[..., Pipeline],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker 3 h ahead would plan up to an hour the service has not reached, record it
    loaded with its last rows missing, and never export it again."""
    service = MovableClock(utc(2024, 3, 2, 10, 30))
    monkeypatch.setattr(clock, "utc_now", lambda: service.now + 3 * HOUR)
    simulator = start_simulator(clock=service)
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator, end_date=None)).raise_on_failed_jobs()
    settled = utc(2024, 3, 2, 9)  # the service's present minus settle_delay, a whole hour
    assert_tables_match(pipeline, simulator, end=settled)
    assert "this worker's clock says 2024-03-02T13:30" in caplog.text
    assert "the service's says 2024-03-02T10:30" in caplog.text
    service.now = utc(2024, 3, 3, 5)
    pipeline.run(make_source(simulator, end_date=None)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator, end=utc(2024, 3, 3, 4))
