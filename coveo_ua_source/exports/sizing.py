"""Fit planned windows under the organization's export row limit, before creating anything.

For each planned window the service's ``estimate`` gives rows per table; a window whose
largest estimate exceeds ``ROW_LIMIT_MARGIN`` of ``rowLimit`` is cut in halves (each
half estimated again) down to the minimum window. Nothing here creates an export.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from coveo_ua_source import settings
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.exports.types import ExportRequest
from coveo_ua_source.exports.windows import PlannedExport

logger = logging.getLogger(__name__)


def size_plan(
    client: CoveoClient,
    plan: Sequence[PlannedExport],
    request: ExportRequest,
    min_window: timedelta,
    on_estimate: Callable[[int, int, PlannedExport], None] | None = None,
) -> list[PlannedExport]:
    """The plan with estimates attached and oversized windows split.

    ``on_estimate(k, n, planned)`` is called before the k-th of the n planned windows is
    estimated, so that a caller can show progress.
    """
    if not plan:
        return []
    limit = int(client.row_limit() * settings.ROW_LIMIT_MARGIN)
    sized: list[PlannedExport] = []
    for number, planned in enumerate(plan, start=1):
        if on_estimate is not None:
            on_estimate(number, len(plan), planned)
        sized.extend(_fit(client, planned, request, limit, min_window))
    return sized


def _fit(
    client: CoveoClient,
    planned: PlannedExport,
    request: ExportRequest,
    limit: int,
    min_window: timedelta,
) -> list[PlannedExport]:
    estimated = replace(planned, estimates=_estimate(client, planned, request))
    largest = max(estimated.estimates.values(), default=0)
    first, second = planned.window.halves()
    if largest <= limit or first.duration < min_window:
        if largest > limit:
            logger.warning(
                "%s: estimated %d rows exceed the row limit margin %d, but the window is "
                "already at the minimum size; the export may be rejected",
                planned.window, largest, limit,
            )  # fmt: skip
        return [estimated]
    logger.info("%s: estimated %d rows > %d, splitting", planned.window, largest, limit)
    halves = [replace(planned, window=first), replace(planned, window=second)]
    return [part for half in halves for part in _fit(client, half, request, limit, min_window)]


def _estimate(
    client: CoveoClient, planned: PlannedExport, request: ExportRequest
) -> dict[str, int]:
    estimates = client.estimate(
        planned.window.start,
        planned.window.end,
        tables=planned.tables,
        filters=request.filters,
        search_filters=request.search_filters,
        custom_event_filters=request.custom_event_filters,
    )
    return {table: count for table, count in estimates.items() if table in planned.tables}
