"""Finds the windows that hold a row twice, so that the run loads them again.

Duplicates can only come from a load job that ran twice: dlt records a job as done only
after the destination committed it, so a process killed in between runs the job again
when the package is resumed (an appended file is inserted twice, a merged one is staged
twice and merged with both copies), and a package resumed long after it was extracted
appends windows that other runs have loaded since. So before each incremental run plans,
the windows of every load completed since the pipeline's previous check (any pipeline's
load: partitions load the same dataset) are checked for a primary key present twice;
such a window is exported again and merged without the ``deduplicated`` shortcut, which
deletes every copy of its keys and inserts one.

``damaged_windows`` asks the destination (under the run's turn, over the connection of
``holdings.destination_view``); ``with_repairs`` is pure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from coveo_ua_source import settings
from coveo_ua_source.dates import Window
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.runs.holdings import TIME_COLUMN, DestinationView
from coveo_ua_source.schema import TABLES, TTable, primary_key

logger = logging.getLogger(__name__)

WINDOWS_PER_QUERY = 100  # a year of daily windows in 4 queries, with 202 parameters each


def damaged_windows(
    view: DestinationView, tables: Sequence[TTable], checked_through: datetime | None
) -> tuple[dict[TTable, list[Window]], datetime | None]:
    """The windows of the loads completed since ``checked_through`` (minus
    LOADS_CHECK_MARGIN; every load when None) that hold a primary key more than once,
    and the moment the next check starts from."""
    since = None if checked_through is None else checked_through - settings.LOADS_CHECK_MARGIN
    try:
        loaded = view.loaded_windows(since)
        damaged = {
            table: _duplicated_windows(view.sql, table, loaded.windows[table])
            for table in tables
            if loaded.windows.get(table) and view.exists(table)
        }
    except Exception as error:  # a failed check must not stop the load it protects
        logger.warning("could not check the loaded windows for duplicate rows: %s", error)
        return {}, checked_through
    for table, windows in damaged.items():
        if windows:
            logger.warning(
                "%s holds duplicate rows in %s (a load job that ran twice); loading %s again",
                table, ", ".join(map(str, windows)), "it" if len(windows) == 1 else "them",
            )  # fmt: skip
    newest = loaded.newest if loaded.newest is not None else checked_through
    return {table: windows for table, windows in damaged.items() if windows}, newest


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
