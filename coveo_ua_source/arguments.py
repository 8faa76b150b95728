"""Validation of the source's arguments, done before any request is made."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from coveo_ua_source import clock, settings
from coveo_ua_source.api.models import check_token
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.exports.types import ExportRequest, RunnerOptions
from coveo_ua_source.exports.windows import (
    check_range,
    default_end,
    format_utc,
    parse_datetime,
    parse_duration,
    parse_tables,
)
from coveo_ua_source.schema import IDENTIFIERS, TExportFormat, TTable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadSettings:
    """Validated arguments of one source instance."""

    start: datetime
    end: datetime | None  # None: up to the settled present of each run
    window: timedelta
    lookback: timedelta
    tables: tuple[TTable, ...]
    request: ExportRequest
    runner: RunnerOptions
    keep_exports: bool
    workdir: Path | None
    settle_delay: timedelta
    partition: bool  # load exactly [start, end), without reading or moving state


def require_token(access_token: str | None) -> str:
    if not access_token or not access_token.strip():
        raise ConfigurationError(
            "no Coveo access token: set SOURCES__COVEO_UA__ACCESS_TOKEN, put access_token "
            "under [sources.coveo_ua] in .dlt/secrets.toml, or pass access_token="
        )
    return check_token(access_token)


def load_settings(
    *,
    start_date: str | date | datetime,
    end_date: str | date | datetime | None,
    tables: Sequence[str] | None,
    window: str | timedelta,
    lookback: str | timedelta,
    export_format: str,
    use_display_names: bool,
    filters: Sequence[str],
    search_filters: Sequence[str],
    custom_event_filters: Sequence[str],
    dimensions: Sequence[str],
    poll_interval: float,
    max_wait: float,
    max_concurrent_exports: int,
    settle_delay: str | timedelta,
    keep_exports: bool,
    workdir: str | None,
    partition: bool = False,
) -> LoadSettings:
    check_limits(poll_interval, max_wait, max_concurrent_exports, lookback, settle_delay)
    start = parse_datetime(start_date, "start_date")
    settle = parse_duration(settle_delay, "settle_delay")
    end = None if end_date is None else parse_datetime(end_date, "end_date")
    if partition and end is None:
        raise ConfigurationError(
            "partition=True loads exactly [start_date, end_date): pass end_date too"
        )
    step = parse_duration(window, "window")
    check_range(start, end or default_end(clock.utc_now(), settle), step)
    chosen = parse_tables(tables)
    request = ExportRequest(
        dimensions=with_identifiers(dimensions, chosen),
        filters=tuple(filters),
        search_filters=tuple(search_filters),
        custom_event_filters=tuple(custom_event_filters),
        export_format=export_format_of(export_format),
        use_display_names=use_display_names,
    )
    runner = RunnerOptions(
        poll_interval=poll_interval,
        max_wait=max_wait,
        max_concurrent=max_concurrent_exports,
        min_window=min(settings.MIN_SPLIT_WINDOW, step),
    )
    return LoadSettings(
        start, end, step, parse_duration(lookback, "lookback"), chosen, request, runner,
        keep_exports, Path(workdir) if workdir else None, settle, partition,
    )  # fmt: skip


def planned_end(load: LoadSettings) -> datetime:
    """Where this run's windows stop: ``end_date``, but never after ``now - settle_delay``.

    Rows keep arriving at the service until then, so a window ending later would be
    exported incomplete and never exported again. A later ``end_date`` is capped (with a
    warning); the next run after the data settled loads the rest.
    """
    settled = default_end(clock.utc_now(), load.settle_delay)
    if load.end is None:
        return settled
    if load.end > settled:
        logger.warning(
            "end_date %s is later than the settled present %s (now minus settle_delay "
            "%s): loading up to %s only; a run after %s loads the rest",
            format_utc(load.end), format_utc(settled), load.settle_delay,
            format_utc(settled), format_utc(load.end + load.settle_delay),
        )  # fmt: skip
        return settled
    return load.end


def check_limits(
    poll_interval: float,
    max_wait: float,
    max_concurrent_exports: int,
    lookback: str | timedelta,
    settle_delay: str | timedelta,
) -> None:
    """Refuse counts and durations that are zero or negative where that cannot work."""
    positive = {"poll_interval": poll_interval, "max_wait": max_wait}
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigurationError(f"{name}={value!r}: must be a number of seconds above 0")
    count = max_concurrent_exports
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigurationError(f"max_concurrent_exports={count!r}: must be a whole number >= 1")
    for name, duration in {"lookback": lookback, "settle_delay": settle_delay}.items():
        if parse_duration(duration, name) < timedelta(0):
            raise ConfigurationError(f"{name}={duration!r}: must not be negative (0 is allowed)")


def export_format_of(value: str) -> TExportFormat:
    upper = value.strip().upper()
    if upper == "EXCEL":
        return "EXCEL"
    if upper == "NO_NEWLINE":
        return "NO_NEWLINE"
    raise ConfigurationError(f"export_format={value!r}: use 'EXCEL' or 'NO_NEWLINE'")


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
