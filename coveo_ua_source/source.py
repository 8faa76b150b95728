"""The dlt source: one merge resource per export table, wired to a shared export feed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from coveo_ua_source import settings
from coveo_ua_source.arguments import LoadSettings, load_settings, require_token
from coveo_ua_source.client import CoveoClient
from coveo_ua_source.coverage import coverage_item, rejected_item
from coveo_ua_source.custom_dimensions import RejectedValue
from coveo_ua_source.dimension_catalog import (
    DimensionTypes,
    loaded_column_types,
    rejected_values_item,
)
from coveo_ua_source.exceptions import ExportFileError
from coveo_ua_source.exporter import ExportRunner, ProgressEvent, TProgress
from coveo_ua_source.feed import ExportFeed, FeedRun
from coveo_ua_source.lakehouse import for_delta, is_delta
from coveo_ua_source.ledger import ExportLedger
from coveo_ua_source.reader import RejectedRow, read_table
from coveo_ua_source.schema import (
    TABLES,
    TExportFormat,
    TTable,
    primary_key,
)
from coveo_ua_source.sizing import size_plan
from coveo_ua_source.windows import parse_datetime, plan_exports

STATE_KEY = "last_end"


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
    token = require_token(access_token)
    load = load_settings(
        start_date=start_date, end_date=end_date, tables=tables, window=window,
        lookback=lookback, export_format=export_format, use_display_names=use_display_names,
        filters=filters, search_filters=search_filters,
        custom_event_filters=custom_event_filters, dimensions=dimensions,
        poll_interval=poll_interval, max_wait=max_wait,
        max_concurrent_exports=max_concurrent_exports, settle_delay=settle_delay,
        keep_exports=keep_exports, workdir=workdir,
    )  # fmt: skip
    client = CoveoClient(token, org_id=org_id, base_url=base_url, region=region)
    feed = ExportFeed(lambda: _feed_run(load, client, progress), keep_exports=load.keep_exports)
    dimension_types = DimensionTypes(client.exportable_dimensions)  # asked once, when needed
    return [_table_resource(table, feed, load, progress, dimension_types) for table in load.tables]


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
    options = replace(load.runner, scope=dlt.current.pipeline().pipeline_name)
    runner = ExportRunner(client, load.request, workdir, options, progress=progress, ledger=ledger)
    return FeedRun(plan, positions, runner, ledger, readers)


def _positions(tables: Sequence[TTable]) -> dict[str, datetime | None]:
    """Where each table's last fully loaded window ended, from dlt state."""
    return positions_from_state(dlt.current.source_state(), tables)


def positions_from_state(
    source_state: Mapping[str, Any], tables: Sequence[TTable]
) -> dict[str, datetime | None]:
    """Each table's ``last_end`` in a coveo_ua source state (None: never loaded)."""
    resources = source_state.get("resources", {})
    positions: dict[str, datetime | None] = {}
    for table in tables:
        last_end = resources.get(table, {}).get(STATE_KEY)
        positions[table] = parse_datetime(last_end, STATE_KEY) if last_end else None
    return positions


def _workdir(load: LoadSettings) -> Path:
    if load.workdir is not None:
        return load.workdir
    return Path(dlt.current.pipeline().working_dir) / "coveo_ua_exports"


def _table_resource(
    table: TTable,
    feed: ExportFeed,
    load: LoadSettings,
    progress: TProgress | None,
    dimension_types: DimensionTypes,
) -> DltResource:
    # A run reads each row once: its windows are disjoint and a row lies in the window of
    # its datetime. So the staged rows are declared deduplicated, which spares the
    # destination a ROW_NUMBER() pass (measured: load 4.5 -> 3.3 s, peak RSS 1.4 -> 0.55 GB
    # for 800k searches rows into DuckDB). Rows already loaded are still replaced by key.
    return dlt.resource(
        _table_batches(table, feed, load, progress, dimension_types),
        name=table,
        write_disposition={
            "disposition": "merge",
            "strategy": "delete-insert",
            "deduplicated": True,
        },
        primary_key=primary_key(table),
    )


def _table_batches(
    table: TTable,
    feed: ExportFeed,
    load: LoadSettings,
    progress: TProgress | None,
    dimension_types: DimensionTypes,
) -> Iterator[Any]:
    """Read each export's file for ``table``; advance the table's state per window.

    Besides the table's Arrow batches it yields its ``_coveo_ua_windows`` row and any
    rejected rows and values, so that bookkeeping and data are committed together.
    """
    typer = None
    for ready in feed.exports_for(table):
        if typer is None:
            typer = dimension_types.typer(table, loaded_column_types(table))
        rejected: list[RejectedRow] = []
        values: list[RejectedValue] = []
        loaded = 0
        batches = read_table(
            ready.zip_path, table, export_format=load.request.export_format,
            on_rejected=rejected.append,
        )  # fmt: skip
        for batch in batches:
            _check_identifiers(table, batch, ready.export_id)
            loaded += batch.num_rows
            typed = typer.apply(batch, primary_key(table))
            values += typed.rejected
            typer.describe(table, typed.batch)
            yield typed.batch
        delta = is_delta(table)
        for item in (
            rejected_item(table, ready, rejected),
            rejected_values_item(table, ready, values),
            coverage_item(table, ready, loaded, len(rejected), len(values)),
        ):
            yield for_delta(item) if delta else item
        dlt.current.resource_state(table)[STATE_KEY] = ready.window.end.isoformat()
        if progress is not None:
            detail = {"table": table, "rows": loaded, "rejected": len(rejected)}
            progress(ProgressEvent("rows", ready.window, ready.export_id, detail))


def _check_identifiers(table: TTable, batch: pa.RecordBatch, export_id: str) -> None:
    missing = [name for name in primary_key(table) if name not in batch.schema.names]
    if missing:
        raise ExportFileError(
            f"export {export_id}: the {table} file has no {', '.join(missing)} column, so its "
            "rows cannot be merged without duplicates; add the identifier to `dimensions`"
        )


__all__ = ["TABLES", "coveo_ua_source"]
