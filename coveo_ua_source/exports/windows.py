"""Pure date-window planning: which exports cover which tables over which time ranges.

Every datetime here is timezone-aware UTC and every window is half-open ``[start, end)``.
Windows lie on a grid anchored at ``start_date`` with a step of ``window``, so tables that
are at the same position share their exports; a table that is behind (added later) gets
exports of its own until it catches up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from coveo_ua_source.dates import Window, format_utc
from coveo_ua_source.exceptions import ConfigurationError, TooManyExportsError
from coveo_ua_source.schema import TABLES, TTable


@dataclass(frozen=True)
class PlannedExport:
    """One export to create: a window, the tables it carries, and their estimated rows."""

    window: Window
    tables: tuple[TTable, ...]
    estimates: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)


def default_end(now: datetime, settle_delay: timedelta) -> datetime:
    """The last whole hour at least ``settle_delay`` before ``now``."""
    settled = now.astimezone(UTC) - settle_delay
    return settled.replace(minute=0, second=0, microsecond=0)


def check_range(start: datetime, end: datetime, window: timedelta) -> None:
    """Reject a range or window size that cannot make sense, before any request."""
    if start >= end:
        raise ConfigurationError(
            f"start_date {format_utc(start)} is not before end_date {format_utc(end)}; "
            "move start_date earlier or end_date later"
        )
    if window < timedelta(minutes=1):
        raise ConfigurationError(f"window {window} is shorter than a minute; use e.g. 'P1D'")


def table_start(start_date: datetime, last_end: datetime | None, lookback: timedelta) -> datetime:
    """Where a table's next export begins: its last loaded end minus the lookback."""
    if last_end is None:
        return start_date
    return max(start_date, last_end - lookback)


def grid_windows(anchor: datetime, start: datetime, end: datetime, step: timedelta) -> list[Window]:
    """Windows from ``start`` to ``end`` cut at ``anchor + k * step``."""
    windows: list[Window] = []
    steps_done = max(0, (start - anchor) // step)
    boundary = anchor + step * (steps_done + 1)
    cursor = start
    while cursor < end:
        windows.append(Window(cursor, min(boundary, end)))
        cursor, boundary = boundary, boundary + step
    return windows


def plan_exports(
    start_date: datetime,
    end_date: datetime,
    window: timedelta,
    positions: Mapping[str, datetime | None],
    lookback: timedelta = timedelta(0),
) -> list[PlannedExport]:
    """The exports that bring every table in ``positions`` up to ``end_date``.

    ``positions`` maps each table to where its last fully loaded window ended (None when
    it was never loaded). Tables whose windows coincide share one export. A table loaded
    past ``end_date`` gets nothing, lookback or not: an earlier range is loaded again in
    partition mode, never by moving ``end_date`` back. One loaded exactly to ``end_date``
    still gets its lookback.
    """
    tables_by_window: dict[Window, list[TTable]] = {}
    for table in TABLES:
        if table not in positions:
            continue
        position = positions[table]
        if position is not None and position > end_date:
            continue  # loaded past end_date: a lookback re-exports nothing
        begin = table_start(start_date, position, lookback)
        for planned in grid_windows(start_date, begin, end_date, window):
            tables_by_window.setdefault(planned, []).append(table)
    return [
        PlannedExport(planned, tuple(tables))
        for planned, tables in sorted(tables_by_window.items())
    ]


def ending_by(plan: Sequence[PlannedExport], end: datetime) -> list[PlannedExport]:
    """``plan`` without what lies at or after ``end`` (a window across it is cut there)."""
    return [
        PlannedExport(
            Window(planned.window.start, min(planned.window.end, end)),
            planned.tables,
            planned.estimates,
        )
        for planned in plan
        if planned.window.start < end
    ]


def check_export_count(plan: Sequence[PlannedExport], max_exports: int) -> None:
    """Refuse a plan of more than ``max_exports`` exports, before any request is made.

    ``max_exports`` itself was checked with the other arguments (``arguments.py``).
    """
    if len(plan) > max_exports:
        raise TooManyExportsError(
            f"the plan has {len(plan):,} exports, more than max_exports={max_exports}, so "
            "none was created. Use a larger window or a later "
            "start_date, or raise max_exports (--max-exports, SOURCES__COVEO_UA__MAX_EXPORTS "
            "or max_exports in [sources.coveo_ua]) if so many are intended"
        )
