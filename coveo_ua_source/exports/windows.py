"""Pure date-window planning: which exports cover which tables over which time ranges.

Every datetime here is timezone-aware UTC and every window is half-open ``[start, end)``.
Windows lie on a grid anchored at ``start_date`` with a step of ``window``, so tables that
are at the same position share their exports; a table that is behind (added later) gets
exports of its own until it catches up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.schema import TABLES, TTable

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC time range ``[start, end)``."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"[{format_utc(self.start)}, {format_utc(self.end)})"

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def halves(self) -> tuple[Window, Window]:
        """The window cut in two at its midpoint, rounded down to the millisecond."""
        middle = self.start + self.duration / 2
        middle -= timedelta(microseconds=middle.microsecond % 1000)
        return Window(self.start, middle), Window(middle, self.end)


@dataclass(frozen=True)
class PlannedExport:
    """One export to create: a window, the tables it carries, and their estimated rows."""

    window: Window
    tables: tuple[TTable, ...]
    estimates: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)


def format_utc(moment: datetime) -> str:
    """ISO 8601 with milliseconds and a Z, the form the API takes."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_datetime(value: str | date | datetime, name: str) -> datetime:
    """An ISO string, date or datetime as aware UTC; values without an offset are UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConfigurationError(
                f"{name}={value!r} is not an ISO 8601 date or datetime; "
                "use e.g. '2024-01-31' or '2024-01-31T12:00:00Z'"
            ) from None
    else:
        raise ConfigurationError(f"{name} must be an ISO string or a datetime, not {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_duration(value: str | timedelta, name: str) -> timedelta:
    """A timedelta or an ISO 8601 duration without years or months (``P1D``, ``PT6H``)."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(value.strip().upper()) if isinstance(value, str) else None
    if match is None or not any(match.groupdict().values()):
        raise ConfigurationError(
            f"{name}={value!r} is not a duration; use a timedelta or an ISO 8601 duration "
            "such as 'P1D', 'PT6H' or 'P7D' (years and months are not fixed lengths)"
        )
    parts = {key: float(number) for key, number in match.groupdict().items() if number}
    return timedelta(**parts)


def parse_tables(tables: Iterable[str] | str | None) -> tuple[TTable, ...]:
    """Validated table names in the canonical order; None means all tables."""
    if tables is None:
        return TABLES
    names = [tables] if isinstance(tables, str) else list(tables)
    # "searches,clicks" from a TOML string or an environment variable is two tables
    split = [part for name in names for part in str(name).split(",")]
    wanted = {name.strip().lower() for name in split if name.strip()}
    unknown = sorted(wanted - set(TABLES))
    if unknown:
        raise ConfigurationError(
            f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES)}"
        )
    if not wanted:
        raise ConfigurationError(f"tables is empty; choose from {', '.join(TABLES)}")
    return tuple(table for table in TABLES if table in wanted)


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
        raise ConfigurationError(
            f"this run would create {len(plan):,} exports, more than max_exports={max_exports}; "
            "`coveo-ua plan` shows them without creating any. Use a larger window or a later "
            "start_date, or raise max_exports (--max-exports, SOURCES__COVEO_UA__MAX_EXPORTS "
            "or max_exports in [sources.coveo_ua]) if so many are intended"
        )
