"""One window the service cannot give (a bad day on its side) holds back nothing else.

The simulator's "fail_window" fault fails every export that touches the second of three
days. Through the load recipe the first day commits, the failed one is recorded in
``_coveo_ua_windows`` and the run ends in ``WindowsFailedError``; with
``skip_failing_windows_after`` the third day loads too; once the service heals, the next
run fills the failed day in. Every table is compared with the ground truth each time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline
from helpers import START, assert_tables_match, make_source

from coveo_ua_simulator import Simulator
from coveo_ua_source import WindowsFailedError, run_load
from coveo_ua_source.exceptions import ExportFailedError
from coveo_ua_source.warehouse.bookkeeping import WINDOWS_TABLE

DAY = timedelta(days=1)
END = START + 3 * DAY
BAD = (START + DAY, START + 2 * DAY)


def fail_second_day(simulator: Simulator) -> None:
    simulator.inject("fail_window", count=10_000, start=BAD[0].isoformat(), end=BAD[1].isoformat())


def ledger(pipeline: Pipeline) -> dict[tuple[Any, str], tuple[str, Any]]:
    """Each window's status and attempts in ``_coveo_ua_windows`` (searches only)."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(WINDOWS_TABLE)
        rows = client.execute_sql(
            f"SELECT window_start, table_name, status, attempts FROM {table} "
            "WHERE table_name = 'searches'"
        )
    return {(start.date(), name): (status, attempts) for start, name, status, attempts in rows}


def load(pipeline: Pipeline, simulator: Simulator, **options: Any) -> dict[str, Any]:
    source = make_source(simulator, end_date=END, **options)
    return run_load(pipeline, source, views=False, access_token=source_token(simulator),
                    base_url=simulator.api_root)  # fmt: skip


def source_token(simulator: Simulator) -> str:
    return simulator.config.token


def test_the_days_before_a_failing_one_commit_and_it_is_filled_in_later(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    fail_second_day(simulator)
    pipeline = make_pipeline()
    for attempt in (1, 2):
        with pytest.raises(WindowsFailedError, match=r"2024-03-02T00:00:00.000Z.*could not"):
            load(pipeline, simulator, max_concurrent_exports=1)
        assert_tables_match(pipeline, simulator, end=BAD[0])
        assert ledger(pipeline) == {
            (START.date(), "searches"): ("loaded", None),
            (BAD[0].date(), "searches"): ("failed", attempt),
        }, "the third day is not loaded: the position stops before the failed one"
    simulator.clear_faults()
    load(pipeline, simulator)
    assert_tables_match(pipeline, simulator, end=END)
    assert {status for status, _ in ledger(pipeline).values()} == {"loaded"}


def test_a_window_may_be_skipped_so_the_later_ones_load_then_it_is_retried(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    fail_second_day(simulator)
    pipeline = make_pipeline()
    load(pipeline, simulator, skip_failing_windows_after=1)  # skipped: no error
    assert ledger(pipeline)[(BAD[0].date(), "searches")] == ("failed", 1)
    assert ledger(pipeline)[((START + 2 * DAY).date(), "searches")][0] == "loaded"
    load(pipeline, simulator, skip_failing_windows_after=1)
    assert ledger(pipeline)[(BAD[0].date(), "searches")] == ("failed", 2), "tried again"
    simulator.clear_faults()
    load(pipeline, simulator, skip_failing_windows_after=1)
    assert_tables_match(pipeline, simulator, end=END)
    assert {status for status, _ in ledger(pipeline).values()} == {"loaded"}


def test_a_bare_pipeline_run_ends_in_the_windows_error_and_commits_nothing(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    """Nobody reads a bare run's report once it is loaded: it fails as dlt's sources do."""
    fail_second_day(simulator)
    pipeline = make_pipeline()
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(make_source(simulator, end_date=END))
    cause: BaseException | None = failed.value
    while cause is not None and not isinstance(cause, ExportFailedError):
        cause = cause.__cause__
    assert isinstance(cause, ExportFailedError)
    assert pipeline.state.get("sources", {}).get("coveo_ua", {}).get("resources") is None
