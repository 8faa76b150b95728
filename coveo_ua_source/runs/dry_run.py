"""`plan_load`: the exports a load would create, with estimates, without creating any.

It validates only the arguments that decide the windows and the filters
(``arguments.window_range`` and ``export_request``); polling and files are the load's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from coveo_ua_source import settings
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.arguments import export_request, planned_end, require_token, window_range
from coveo_ua_source.exports.sizing import size_plan
from coveo_ua_source.exports.windows import (
    PlannedExport,
    Window,
    check_export_count,
    plan_exports,
)
from coveo_ua_source.runs.load_path import destination_sql
from coveo_ua_source.runs.lock import pipeline_lock
from coveo_ua_source.runs.repair import damaged_windows, with_repairs
from coveo_ua_source.schema import TTable
from coveo_ua_source.source import positions_from_state


def plan_load(
    access_token: str | None,
    *,
    start_date: Any,
    end_date: Any = None,
    tables: Sequence[str] | None = None,
    window: Any = settings.DEFAULT_WINDOW,
    lookback: Any = settings.DEFAULT_LOOKBACK,
    org_id: str | None = None,
    base_url: str | None = None,
    region: str = settings.DEFAULT_REGION,
    filters: Sequence[str] = (),
    search_filters: Sequence[str] = (),
    custom_event_filters: Sequence[str] = (),
    settle_delay: Any = settings.DEFAULT_SETTLE_DELAY,
    pipeline: Pipeline | None = None,
    max_exports: int = settings.DEFAULT_MAX_EXPORTS,
    on_estimate: Callable[[int, int, PlannedExport], None] | None = None,
) -> list[PlannedExport]:
    """The windows the next run would export, each with the service's row estimates.

    With ``pipeline`` the plan starts where that pipeline's state says each table ended,
    exactly as its next run would: the state is first restored from the destination
    (``pipeline.sync_destination()``), so a fresh worker plans what ``load`` would do,
    including the windows of the latest load it would repair (duplicate rows a killed load
    left, see ``runs/repair.py``). Without it, from ``start_date``. Only ``rowLimit`` and
    ``estimate`` are called: nothing is created. A plan of more than ``max_exports``
    windows is refused before any request, as the load would refuse it;
    ``on_estimate(k, n, planned)`` is called before each window's estimate.
    """
    windows = window_range(
        start_date=start_date, end_date=end_date, tables=tables, window=window,
        lookback=lookback, settle_delay=settle_delay, max_exports=max_exports,
    )  # fmt: skip
    request = export_request(
        windows, filters=filters, search_filters=search_filters,
        custom_event_filters=custom_event_filters,
    )  # fmt: skip
    client = CoveoClient(
        require_token(access_token), org_id=org_id, base_url=base_url, region=region
    )
    state = _source_state(pipeline)
    positions = positions_from_state(state, windows.tables)
    plan = plan_exports(
        windows.start, planned_end(windows), windows.window, positions, windows.lookback
    )
    plan = with_repairs(plan, _damaged(pipeline, windows.tables))
    check_export_count(plan, windows.max_exports)
    return size_plan(client, plan, request, windows.min_window, on_estimate)


def _damaged(pipeline: Pipeline | None, tables: Sequence[TTable]) -> dict[TTable, list[Window]]:
    """The windows the next load would repair: one query per table, on its latest load."""
    if pipeline is None:
        return {}
    with destination_sql(pipeline) as sql:
        return damaged_windows(sql, tables)


def _source_state(pipeline: Pipeline | None) -> dict[str, Any]:
    if pipeline is None:
        return {}
    with pipeline_lock(pipeline):  # restoring rewrites the working folder a load uses
        pipeline.sync_destination()
    sources: dict[str, Any] = pipeline.state.get("sources", {})
    return dict(sources.get(settings.SOURCE_SECTION, {}))
