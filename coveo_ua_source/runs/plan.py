"""One run's plan: the new windows, the lookback, the repairs, and each table's disposition.

Runs in the extract step, where dlt's state and the destination are known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.arguments import LoadSettings, planned_end
from coveo_ua_source.exports.sizing import size_plan
from coveo_ua_source.exports.windows import (
    PlannedExport,
    Window,
    check_export_count,
    plan_exports,
)
from coveo_ua_source.runs.load_path import destination_sql, loaded_extents, run_dispositions
from coveo_ua_source.runs.repair import damaged_windows, with_repairs
from coveo_ua_source.schema import TTable


def plan_run(
    pipeline: Any,
    load: LoadSettings,
    client: CoveoClient,
    readers: frozenset[str],
    positions: Mapping[str, datetime | None] | None,
) -> tuple[list[PlannedExport], dict[str, Any] | None]:
    """This run's exports (new windows, lookback, repairs) and each table's disposition."""
    windows = load.windows
    start_at = dict.fromkeys(windows.tables) if positions is None else positions
    plan = plan_exports(
        windows.start,
        planned_end(windows),
        windows.window,
        {table: position for table, position in start_at.items() if table in readers},
        timedelta(0) if load.partition else windows.lookback,
    )
    tables = [table for table in windows.tables if table in readers]
    damaged, extents = _destination_holds(pipeline, tables, positions is not None)
    plan = with_repairs(plan, damaged)
    check_export_count(plan, windows.max_exports)
    plan = size_plan(client, plan, load.request, load.runner.min_window)
    repairing = frozenset(damaged)
    return plan, run_dispositions(plan, positions, readers, extents, repairing)


def _destination_holds(
    pipeline: Any, tables: Sequence[TTable], incremental: bool
) -> tuple[dict[TTable, list[Window]], dict[str, datetime] | None]:
    """The windows to repair and each table's loaded extent, asked over one connection
    (closed before the estimates are asked); partition mode asks nothing."""
    if not incremental:
        return {}, None
    with destination_sql(pipeline) as sql:
        return damaged_windows(sql, tables), loaded_extents(sql, sorted(tables))
