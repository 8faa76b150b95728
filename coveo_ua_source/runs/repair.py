"""Finds the windows a killed load left with duplicate rows, so that the run loads them again.

dlt records a load job as done only after the destination committed it. A process killed
in between re-runs the job when the package is resumed: an appended file is inserted
twice, a merged one is staged twice and merged with both copies. So each run first checks
the windows of the latest load of every table for a primary key present twice; such a
window is exported again and merged without the ``deduplicated`` shortcut, which deletes
every copy of its keys and inserts one (and tolerates a lookback window overlapping it).

``damaged_windows`` asks the destination (in the extract step, over the connection that
``load_path.destination_sql`` opens); ``with_repairs`` is pure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from coveo_ua_source.exports.windows import PlannedExport, Window
from coveo_ua_source.ingest.bookkeeping import WINDOWS_TABLE
from coveo_ua_source.runs.load_path import table_exists
from coveo_ua_source.schema import TABLES, TTable, primary_key

logger = logging.getLogger(__name__)

TIME_COLUMN = "datetime"  # every table's event time, which places a row in its window
WINDOWS_PER_QUERY = 100  # a year of daily windows in 4 queries, with 202 parameters each


def damaged_windows(sql: Any | None, tables: Sequence[TTable]) -> dict[TTable, list[Window]]:
    """The windows of each table's latest load that hold a primary key more than once.

    ``sql``: the client ``destination_sql`` yields (None: nothing can be checked).
    """
    if sql is None:
        return {}
    try:
        if not sql.has_dataset() or not table_exists(sql, WINDOWS_TABLE):
            return {}
        latest = _latest_windows(sql)
        damaged = {
            table: _duplicated_windows(sql, table, latest[table])
            for table in tables
            if latest.get(table) and table_exists(sql, table)
        }
    except Exception as error:  # a failed check must not stop the load it protects
        logger.warning("could not check the last load for duplicate rows: %s", error)
        return {}
    for table, windows in damaged.items():
        for window in windows:
            logger.warning(
                "%s %s holds duplicate rows (a killed load); loading it again", table, window
            )
    return {table: windows for table, windows in damaged.items() if windows}


def with_repairs(
    plan: Sequence[PlannedExport], damaged: Mapping[TTable, Sequence[Window]]
) -> list[PlannedExport]:
    """``plan`` plus an export of each damaged window for its table, in window order."""
    tables_by_window = {planned.window: set(planned.tables) for planned in plan}
    for table, windows in damaged.items():
        for window in windows:
            tables_by_window.setdefault(window, set()).add(table)
    estimates = {planned.window: planned.estimates for planned in plan}
    return [
        PlannedExport(
            window,
            tuple(table for table in TABLES if table in tables),
            estimates.get(window, {}),
        )
        for window, tables in sorted(tables_by_window.items())
    ]


def _latest_windows(client: Any) -> dict[str, list[Window]]:
    name = client.make_qualified_table_name(WINDOWS_TABLE)
    sql = (
        f"SELECT table_name, window_start, window_end FROM {name} AS w "  # noqa: S608
        f"WHERE _dlt_load_id = (SELECT MAX(_dlt_load_id) FROM {name} AS l "
        "WHERE l.table_name = w.table_name)"
    )
    latest: dict[str, list[Window]] = {}
    for table, start, end in client.execute_sql(sql) or []:
        latest.setdefault(str(table), []).append(Window(_aware(start), _aware(end)))
    return latest


def _duplicated_windows(client: Any, table: TTable, windows: Sequence[Window]) -> list[Window]:
    """Those of ``windows`` (disjoint) that hold a key more than once: one query for up to
    WINDOWS_PER_QUERY windows, not one per window (a round trip each on a warehouse)."""
    found: list[Window] = []
    for first in range(0, len(windows), WINDOWS_PER_QUERY):
        some = windows[first : first + WINDOWS_PER_QUERY]
        indexes = _duplicated_indexes(client, table, some)
        found += [window for index, window in enumerate(some) if index in indexes]
    return found


def _duplicated_indexes(client: Any, table: TTable, windows: Sequence[Window]) -> set[int]:
    keys = ", ".join(client.escape_column_name(column) for column in primary_key(table))
    time = client.escape_column_name(TIME_COLUMN)
    which = " ".join(f"WHEN {time} >= %s AND {time} < %s THEN {i}" for i in range(len(windows)))
    sql = (
        f"SELECT DISTINCT window_index FROM (SELECT CASE {which} END AS window_index, {keys} "  # noqa: S608
        f"FROM {client.make_qualified_table_name(table)} WHERE {time} >= %s AND {time} < %s) "
        f"AS keyed WHERE window_index IS NOT NULL GROUP BY window_index, {keys} "
        "HAVING COUNT(*) > 1"
    )
    bounds = [moment for window in windows for moment in (window.start, window.end)]
    span = (min(w.start for w in windows), max(w.end for w in windows))
    return {int(index) for (index,) in client.execute_sql(sql, *bounds, *span) or []}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
