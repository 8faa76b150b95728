"""`plan_load`: the exports a load would create, with estimates, without creating any.

It validates only the arguments that decide the windows and the filters
(``arguments.window_range`` and ``export_request``); polling and files are the load's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dlt

from coveo_ua_source import settings
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.arguments import export_request, planned_end, window_range
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.runs.plan import PlanInputs, final_plan
from coveo_ua_source.runs.turns import reading_destination


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
    pipeline: dlt.Pipeline | None = None,
    max_exports: int = settings.DEFAULT_MAX_EXPORTS,
    on_estimate: Callable[[int, int, PlannedExport], None] | None = None,
) -> list[PlannedExport]:
    """The windows the next run would export, each with the service's row estimates.

    With ``pipeline`` the plan starts where that pipeline's latest completed load left
    each table, as read from its destination, exactly as its next run would plan under its
    turn (including the windows it would load again because a load job ran twice and left
    duplicate rows, see ``runs/repair.py``); nothing on the worker is changed. Without it,
    from ``start_date``. Only ``rowLimit`` and ``estimate`` are called: nothing is created.
    A plan of more than ``max_exports`` windows is refused before any request, as the load
    would refuse it; ``on_estimate(k, n, planned)`` is called before each window's estimate.
    """
    windows = window_range(
        start_date=start_date, end_date=end_date, tables=tables, window=window,
        lookback=lookback, settle_delay=settle_delay, max_exports=max_exports,
    )  # fmt: skip
    request = export_request(
        windows, filters=filters, search_filters=search_filters,
        custom_event_filters=custom_event_filters,
    )  # fmt: skip
    client = CoveoClient(access_token, org_id=org_id, base_url=base_url, region=region)
    readers = frozenset(windows.tables)
    inputs = PlanInputs(
        windows,
        request,
        readers,
        planned_end(windows),
        False,
        on_estimate=on_estimate,
    )
    local = _local_state(pipeline)
    with reading_destination(pipeline) as view:
        return final_plan(view, inputs, client, local).exports


def _local_state(pipeline: dlt.Pipeline | None) -> dict[str, Any]:
    if pipeline is None:
        return {}
    sources: dict[str, Any] = pipeline.state.get("sources", {})
    return dict(sources.get(settings.SOURCE_SECTION, {}))
