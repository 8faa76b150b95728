"""The dlt source: one merge resource per export table, wired to a shared export feed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from coveo_ua_source import settings
from coveo_ua_source.client import CoveoClient
from coveo_ua_source.coverage import coverage_item, rejected_item
from coveo_ua_source.exceptions import ConfigurationError, ExportFileError
from coveo_ua_source.exporter import ExportRequest, ExportRunner, RunnerOptions, TProgress
from coveo_ua_source.feed import ExportFeed, FeedRun
from coveo_ua_source.ledger import ExportLedger
from coveo_ua_source.reader import RejectedRow, read_table
from coveo_ua_source.schema import (
    IDENTIFIERS,
    TABLES,
    TExportFormat,
    TTable,
    primary_key,
)
from coveo_ua_source.sizing import size_plan
from coveo_ua_source.windows import (
    check_range,
    default_end,
    parse_datetime,
    parse_duration,
    parse_tables,
    plan_exports,
)

STATE_KEY = "last_end"


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


@dlt.source(name="coveo_ua", section=settings.SOURCE_SECTION, max_table_nesting=0)
def coveo_ua_source(
    access_token: str | None = dlt.secrets.value,
    org_id: str | None = None,
    base_url: str | None = None,
    region: str = settings.DEFAULT_REGION,
    start_date: Any = dlt.config.value,
    end_date: Any = None,
    tables: Sequence[str] | None = None,
    window: Any = settings.DEFAULT_WINDOW,
    lookback: Any = settings.DEFAULT_LOOKBACK,
    export_format: TExportFormat = "EXCEL",
    use_display_names: bool = False,
    filters: Sequence[str] = (),
    search_filters: Sequence[str] = (),
    custom_event_filters: Sequence[str] = (),
    dimensions: Sequence[str] = (),
    poll_interval: float = settings.DEFAULT_POLL_INTERVAL,
    max_wait: float = settings.DEFAULT_MAX_WAIT,
    max_concurrent_exports: int = settings.DEFAULT_MAX_CONCURRENT_EXPORTS,
    settle_delay: Any = settings.DEFAULT_SETTLE_DELAY,
    keep_exports: bool = False,
    workdir: str | None = None,
    progress: TProgress | None = None,
) -> Any:
    """Coveo Usage Analytics exports, one merge table per export table.

    Each run exports the date windows of ``[start_date, end_date)`` that are not loaded
    yet (per table, kept in dlt state), one export per window for all the tables that
    need it. See the README for every option.

    Dates (``start_date``, ``end_date``) take ISO 8601 strings, dates or datetimes; values
    without an offset are UTC. Durations (``window``, ``lookback``, ``settle_delay``) take
    ISO 8601 strings such as ``"P1D"`` or timedeltas. They are typed ``Any`` because dlt
    injects config values only into parameters of a single type.
    """
    token = _require_token(access_token)
    load = _load_settings(
        start_date=start_date, end_date=end_date, tables=tables, window=window,
        lookback=lookback, export_format=export_format, use_display_names=use_display_names,
        filters=filters, search_filters=search_filters,
        custom_event_filters=custom_event_filters, dimensions=dimensions,
        poll_interval=poll_interval, max_wait=max_wait,
        max_concurrent_exports=max_concurrent_exports, settle_delay=settle_delay,
        keep_exports=keep_exports, workdir=workdir,
    )  # fmt: skip
    client = CoveoClient(token, org_id=org_id, base_url=base_url, region=region)
    feed = ExportFeed(lambda: _feed_run(load, client, progress), keep_exports=keep_exports)
    return [_table_resource(table, feed, load) for table in load.tables]


def _require_token(access_token: str | None) -> str:
    if not access_token or not access_token.strip():
        raise ConfigurationError(
            "no Coveo access token: set SOURCES__COVEO_UA__ACCESS_TOKEN, put access_token "
            "under [sources.coveo_ua] in .dlt/secrets.toml, or pass access_token="
        )
    return access_token.strip()


def _load_settings(
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
    start = parse_datetime(start_date, "start_date")
    if end_date is None:
        end = default_end(datetime.now(UTC), parse_duration(settle_delay, "settle_delay"))
    else:
        end = parse_datetime(end_date, "end_date")
    step = parse_duration(window, "window")
    check_range(start, end, step)
    chosen = parse_tables(tables)
    request = ExportRequest(
        dimensions=_with_identifiers(dimensions, chosen),
        filters=tuple(filters),
        search_filters=tuple(search_filters),
        custom_event_filters=tuple(custom_event_filters),
        export_format=_export_format(export_format),
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


def _export_format(value: str) -> TExportFormat:
    upper = value.strip().upper()
    if upper == "EXCEL":
        return "EXCEL"
    if upper == "NO_NEWLINE":
        return "NO_NEWLINE"
    raise ConfigurationError(f"export_format={value!r}: use 'EXCEL' or 'NO_NEWLINE'")


def _with_identifiers(dimensions: Sequence[str], tables: Sequence[TTable]) -> tuple[str, ...]:
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


def _feed_run(load: LoadSettings, client: CoveoClient, progress: TProgress | None) -> FeedRun:
    """Plan this extract from dlt's selection and state; runs inside the extract step."""
    positions = _positions(load.tables)
    readers = frozenset(dlt.current.source().selected_resources) & set(load.tables)
    plan = plan_exports(
        load.start,
        load.end,
        load.window,
        {table: position for table, position in positions.items() if table in readers},
        load.lookback,
    )
    plan = size_plan(client, plan, load.request, load.runner.min_window)
    workdir = _workdir(load)
    ledger = ExportLedger(workdir)
    runner = ExportRunner(
        client, load.request, workdir, load.runner, progress=progress, ledger=ledger
    )
    return FeedRun(plan, positions, runner, ledger, readers)


def _positions(tables: Sequence[TTable]) -> dict[str, datetime | None]:
    """Where each table's last fully loaded window ended, from dlt state."""
    state = dlt.current.source_state().get("resources", {})
    positions: dict[str, datetime | None] = {}
    for table in tables:
        last_end = state.get(table, {}).get(STATE_KEY)
        positions[table] = parse_datetime(last_end, STATE_KEY) if last_end else None
    return positions


def _workdir(load: LoadSettings) -> Path:
    if load.workdir is not None:
        return load.workdir
    return Path(dlt.current.pipeline().working_dir) / "coveo_ua_exports"


def _table_resource(table: TTable, feed: ExportFeed, load: LoadSettings) -> DltResource:
    return dlt.resource(
        _table_batches(table, feed, load),
        name=table,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key=primary_key(table),
    )


def _table_batches(table: TTable, feed: ExportFeed, load: LoadSettings) -> Iterator[Any]:
    """Read each export's file for ``table``; advance the table's state per window.

    Besides the table's Arrow batches it yields its ``_coveo_ua_windows`` row and any
    rejected rows, so that bookkeeping and data are committed together.
    """
    for ready in feed.exports_for(table):
        rejected: list[RejectedRow] = []
        loaded = 0
        batches = read_table(
            ready.zip_path, table, export_format=load.request.export_format,
            on_rejected=rejected.append,
        )  # fmt: skip
        for batch in batches:
            _check_identifiers(table, batch, ready.export_id)
            loaded += batch.num_rows
            yield batch
        if rejected:
            yield rejected_item(table, ready, rejected)
        yield coverage_item(table, ready, loaded, len(rejected))
        dlt.current.resource_state(table)[STATE_KEY] = ready.window.end.isoformat()


def _check_identifiers(table: TTable, batch: pa.RecordBatch, export_id: str) -> None:
    missing = [name for name in primary_key(table) if name not in batch.schema.names]
    if missing:
        raise ExportFileError(
            f"export {export_id}: the {table} file has no {', '.join(missing)} column, so its "
            "rows cannot be merged without duplicates; add the identifier to `dimensions`"
        )


__all__ = ["TABLES", "coveo_ua_source"]
