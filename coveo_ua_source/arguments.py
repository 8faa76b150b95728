"""The source's arguments, each validated here once, before any request is made.

``window_range`` checks what decides the windows (dates, durations, tables,
``max_exports``) and is all the dry run needs; ``export_request`` the export parameters
(filters, dimensions, ``export_format``); ``load_settings`` what only a load needs
(polling, files, partition). The token is the client's to check (``api.credentials``),
when the source creates it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from coveo_ua_source import clock, settings
from coveo_ua_source.dates import format_utc, parse_datetime, parse_duration
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.exports.types import ExportRequest, RunnerOptions
from coveo_ua_source.exports.windows import check_range, default_end
from coveo_ua_source.schema import IDENTIFIERS, TTable, export_format_of, parse_tables

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowRange:
    """Which windows a run plans: what a load and its dry run (``plan_load``) share."""

    start: datetime
    end: datetime | None  # None: up to the settled present of each run
    window: timedelta
    lookback: timedelta
    tables: tuple[TTable, ...]
    settle_delay: timedelta
    max_exports: int

    @property
    def min_window(self) -> timedelta:
        """How far a window is split: down to MIN_SPLIT_WINDOW, or the window if shorter."""
        return min(settings.MIN_SPLIT_WINDOW, self.window)


@dataclass(frozen=True)
class LoadSettings:
    """Validated arguments of one source instance: its windows and how it exports them."""

    windows: WindowRange
    request: ExportRequest
    runner: RunnerOptions
    keep_exports: bool
    workdir: Path | None
    partition: bool  # load exactly [start, end), without reading or moving state
    coordination: str = settings.DEFAULT_COORDINATION  # how runs of a dataset take turns
    lease_timeout: float = settings.DEFAULT_LEASE_TIMEOUT  # seconds a run waits for its turn
    # a window failed in this many runs is skipped so later windows load (0: never)
    skip_failing_windows_after: int = settings.DEFAULT_SKIP_FAILING_WINDOWS_AFTER


def window_range(
    *,
    start_date: str | date | datetime,
    end_date: str | date | datetime | None,
    tables: Sequence[str] | None,
    window: str | timedelta,
    lookback: str | timedelta,
    settle_delay: str | timedelta,
    max_exports: int,
) -> WindowRange:
    """The windows' arguments, checked: dates, durations, tables and ``max_exports``."""
    start = parse_datetime(start_date, "start_date")
    settle = non_negative_duration(settle_delay, "settle_delay")
    end = None if end_date is None else parse_datetime(end_date, "end_date")
    step = parse_duration(window, "window")
    check_range(start, end or default_end(clock.utc_now(), settle), step)
    return WindowRange(
        start, end, step, non_negative_duration(lookback, "lookback"), parse_tables(tables),
        settle, check_max_exports(max_exports),
    )  # fmt: skip


def export_request(
    windows: WindowRange,
    *,
    filters: Sequence[str] = (),
    search_filters: Sequence[str] = (),
    custom_event_filters: Sequence[str] = (),
    dimensions: Sequence[str] = (),
    export_format: str = "EXCEL",
    use_display_names: bool = False,
) -> ExportRequest:
    """The export parameters shared by every window; the dry run needs only the filters."""
    return ExportRequest(
        dimensions=with_identifiers(dimensions, windows.tables),
        filters=tuple(filters),
        search_filters=tuple(search_filters),
        custom_event_filters=tuple(custom_event_filters),
        export_format=export_format_of(export_format),
        use_display_names=use_display_names,
    )


def load_settings(
    windows: WindowRange,
    request: ExportRequest,
    *,
    poll_interval: float,
    max_wait: float,
    max_concurrent_exports: int,
    keep_exports: bool,
    workdir: str | None,
    partition: bool = False,
    coordination: str = settings.DEFAULT_COORDINATION,
    lease_timeout: float = settings.DEFAULT_LEASE_TIMEOUT,
    skip_failing_windows_after: int = settings.DEFAULT_SKIP_FAILING_WINDOWS_AFTER,
) -> LoadSettings:
    """What only a load needs beyond its windows and request: polling, files, partition,
    and how it takes turns with other runs of the dataset."""
    check_polling(poll_interval, max_wait, max_concurrent_exports)
    check_coordination(coordination, lease_timeout)
    skip = skip_failing_windows_after
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise ConfigurationError(
            f"skip_failing_windows_after={skip!r}: use a whole number of runs, 0 for never"
        )
    if partition and windows.end is None:
        raise ConfigurationError(
            "partition=True loads exactly [start_date, end_date): pass end_date too"
        )
    runner = RunnerOptions(
        poll_interval=poll_interval,
        max_wait=max_wait,
        max_concurrent=max_concurrent_exports,
        min_window=windows.min_window,
    )
    workdir_path = Path(workdir) if workdir else None
    return LoadSettings(
        windows, request, runner, keep_exports, workdir_path, partition,
        coordination.strip().lower(), float(lease_timeout), skip,
    )  # fmt: skip


def planned_end(windows: WindowRange, now: datetime | None = None) -> datetime:
    """Where this run's windows stop: ``end_date``, but never after ``now - settle_delay``.

    ``now``: the service's present (``exports.present``), else this machine's. Rows keep
    arriving at the service until then, so a window ending later would be exported
    incomplete and never exported again. A later ``end_date`` is capped (with a warning);
    the next run after the data settled loads the rest.
    """
    settled = default_end(now or clock.utc_now(), windows.settle_delay)
    if windows.end is None:
        return settled
    if windows.end > settled:
        logger.warning(
            "end_date %s is later than the settled present %s (now minus settle_delay "
            "%s): loading up to %s only; a run after %s loads the rest",
            format_utc(windows.end), format_utc(settled), windows.settle_delay,
            format_utc(settled), format_utc(windows.end + windows.settle_delay),
        )  # fmt: skip
        return settled
    return windows.end


def check_polling(poll_interval: float, max_wait: float, max_concurrent_exports: int) -> None:
    """Refuse polling settings that are zero or negative."""
    positive = {"poll_interval": poll_interval, "max_wait": max_wait}
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigurationError(f"{name}={value!r}: must be a number of seconds above 0")
    count = max_concurrent_exports
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigurationError(f"max_concurrent_exports={count!r}: must be a whole number >= 1")


def check_coordination(coordination: str, lease_timeout: float) -> None:
    """Refuse an unknown coordination mode or a negative ``lease_timeout``."""
    mode = coordination.strip().lower() if isinstance(coordination, str) else coordination
    if mode not in settings.COORDINATIONS:
        raise ConfigurationError(
            f"coordination={coordination!r}: use one of {', '.join(settings.COORDINATIONS)}"
        )
    timeout = lease_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ConfigurationError(
            f"lease_timeout={timeout!r}: must be a number of seconds, 0 or more"
        )


def non_negative_duration(value: str | timedelta, name: str) -> timedelta:
    duration = parse_duration(value, name)
    if duration < timedelta(0):
        raise ConfigurationError(f"{name}={value!r}: must not be negative (0 is allowed)")
    return duration


def check_max_exports(max_exports: int) -> int:
    """``max_exports`` itself; how many exports a plan has is checked by the planner."""
    if isinstance(max_exports, bool) or not isinstance(max_exports, int) or max_exports < 1:
        raise ConfigurationError(f"max_exports={max_exports!r}: use a whole number >= 1")
    return max_exports


def with_identifiers(dimensions: Sequence[str], tables: Sequence[TTable]) -> tuple[str, ...]:
    """The chosen dimensions plus what every table needs to be merged (ids and datetime)."""
    if not dimensions:
        return ()
    needed = ["datetime", *(name for table in tables for name in IDENTIFIERS[table])]
    chosen = list(dimensions)
    known = {name.lower() for name in chosen}
    for name in needed:
        if name.lower() not in known:
            chosen.append(name)
            known.add(name.lower())
    return tuple(chosen)
