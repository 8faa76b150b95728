"""Validation of the source's arguments, done before any request is made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from coveo_ua_source import settings
from coveo_ua_source.api_types import check_token
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.exporter import ExportRequest, RunnerOptions
from coveo_ua_source.schema import IDENTIFIERS, TExportFormat, TTable
from coveo_ua_source.windows import (
    check_range,
    default_end,
    parse_datetime,
    parse_duration,
    parse_tables,
)


@dataclass(frozen=True)
class LoadSettings:
    """Validated arguments of one source instance."""

    start: datetime
    end: datetime
    window: timedelta
    lookback: timedelta
    tables: tuple[TTable, ...]
    request: ExportRequest
    runner: RunnerOptions
    keep_exports: bool
    workdir: Path | None


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
) -> LoadSettings:
    check_limits(poll_interval, max_wait, max_concurrent_exports, lookback, settle_delay)
    start = parse_datetime(start_date, "start_date")
    if end_date is None:
        end = default_end(datetime.now(UTC), parse_duration(settle_delay, "settle_delay"))
    else:
        end = parse_datetime(end_date, "end_date")
    step = parse_duration(window, "window")
    check_range(start, end, step)
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
        keep_exports, Path(workdir) if workdir else None,
    )  # fmt: skip


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
