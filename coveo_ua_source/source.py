"""The dlt source: one merge resource per export table, wired to a shared export feed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from coveo_ua_source import settings
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.api.download import DownloadLimits
from coveo_ua_source.arguments import (
    LoadSettings,
    export_request,
    load_settings,
    planned_end,
    window_range,
)
from coveo_ua_source.dates import Window, parse_datetime
from coveo_ua_source.dlt_internals import (
    active_pipeline,
    follow_committed_version,
    refresh_requested,
)
from coveo_ua_source.exceptions import ExportFileError
from coveo_ua_source.exports.feed import ExportFeed, FeedPerExtract, FeedRun
from coveo_ua_source.exports.runner import ExportRunner
from coveo_ua_source.exports.types import (
    ProgressEvent,
    ReadyExport,
    TExportProgress,
)
from coveo_ua_source.ingest.archive import (
    ReadStats,
    RejectedRow,
    missing_table_error,
    read_table,
)
from coveo_ua_source.ingest.background import Background, work_slots
from coveo_ua_source.ingest.custom_dimensions import HeldRejected
from coveo_ua_source.ingest.parquet_files import ParquetFiles, WrittenFile
from coveo_ua_source.ingest.placement import keep_inside
from coveo_ua_source.ingest.reading_memory import release_read_memory
from coveo_ua_source.runs.load_path import MERGE, choose_disposition, run_dispositions
from coveo_ua_source.runs.plan import (
    CHECKED_KEY,
    POSITION_KEY,
    PlanInputs,
    RunPlan,
    checked_value,
)
from coveo_ua_source.runs.process_exit import freeze_at_exit
from coveo_ua_source.runs.report import WindowFailures, last_report, new_report
from coveo_ua_source.runs.start import start_run
from coveo_ua_source.runs.turns import Coordination
from coveo_ua_source.schema import (
    TABLES,
    TExportFormat,
    TTable,
    primary_key,
)
from coveo_ua_source.warehouse.bookkeeping import (
    BOOKKEEPING_RESOURCE,
    REJECTED_TABLE,
    WINDOWS_TABLE,
    coverage_item,
    joined_by_table,
    rejected_item,
)
from coveo_ua_source.warehouse.dimension_catalog import (
    BatchTyper,
    DimensionTypes,
    loaded_column_types,
    rejected_values_item,
)
from coveo_ua_source.warehouse.lakehouse import (
    explain_plain_lake,
    for_delta,
    is_delta,
    keeps_load_files,
)
from coveo_ua_source.warehouse.lean_defaults import pipeline_lean_defaults

logger = logging.getLogger(__name__)


@dlt.source(name="coveo_ua", section=settings.SOURCE_SECTION, max_table_nesting=0)
def coveo_ua_source(
    access_token: str | None = dlt.secrets.value,
    org_id: str | None = None,
    base_url: str | None = None,
    region: str = settings.DEFAULT_REGION,
    start_date: Any = dlt.config.value,
    end_date: Any = None,
    tables: Any = None,
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
    progress: TExportProgress | None = None,
    partition: bool = False,
    max_exports: int = settings.DEFAULT_MAX_EXPORTS,
    download_min_bytes: int = settings.DOWNLOAD_MIN_BYTES,
    download_stall_seconds: float = settings.DOWNLOAD_STALL_SECONDS,
    download_deadline: float = settings.DOWNLOAD_DEADLINE,
    coordination: str = settings.DEFAULT_COORDINATION,
    lease_timeout: float = settings.DEFAULT_LEASE_TIMEOUT,
    skip_failing_windows_after: int = settings.DEFAULT_SKIP_FAILING_WINDOWS_AFTER,
) -> Any:
    """Coveo Usage Analytics exports, one merge table per export table.

    Each run exports the date windows of ``[start_date, end_date)`` that are not loaded
    yet (per table, kept in dlt state), one export per window for all the tables that
    need it, never past ``now - settle_delay``. With ``partition=True`` it loads exactly
    ``[start_date, end_date)`` and neither reads nor moves that state (parallel
    backfills, one pipeline name per partition). docs/operations.md describes every
    option (Configuration reference).

    Dates (``start_date``, ``end_date``) take ISO 8601 strings, dates or datetimes; values
    without an offset are UTC. Durations (``window``, ``lookback``, ``settle_delay``) take
    ISO 8601 strings such as ``"P1D"`` or timedeltas; ``tables`` a list or a comma-separated
    string (``"searches,clicks"``). They are typed ``Any`` because dlt injects config
    values only into parameters of a single type.

    Runs that load into the same dataset take turns (``coordination``, ``lease_timeout``;
    see ``runs/lease.py``): a run builds its first exports at once, then waits for its
    turn, plans from what the destination holds, and keeps the turn until dlt's run ends.
    """
    limits = DownloadLimits(download_min_bytes, download_stall_seconds, download_deadline)
    client = CoveoClient(
        access_token, org_id=org_id, base_url=base_url, region=region, download_limits=limits
    )
    windows = window_range(
        start_date=start_date, end_date=end_date, tables=tables, window=window,
        lookback=lookback, settle_delay=settle_delay, max_exports=max_exports,
    )  # fmt: skip
    request = export_request(
        windows, filters=filters, search_filters=search_filters,
        custom_event_filters=custom_event_filters, dimensions=dimensions,
        export_format=export_format, use_display_names=use_display_names,
    )  # fmt: skip
    load = load_settings(
        windows, request, poll_interval=poll_interval, max_wait=max_wait,
        max_concurrent_exports=max_concurrent_exports, keep_exports=keep_exports,
        workdir=workdir, partition=partition, coordination=coordination,
        lease_timeout=lease_timeout, skip_failing_windows_after=skip_failing_windows_after,
    )  # fmt: skip
    feeds = FeedPerExtract(lambda: _feed_run(load, client, progress), _extract_key)
    dimension_types = DimensionTypes(client.exportable_dimensions)  # asked once, when needed
    tables_resources = [
        _table_resource(table, feeds, load, progress, dimension_types)
        for table in load.windows.tables
    ]
    return [*tables_resources, _bookkeeping_resource(feeds, load.windows.tables)]


def _extract_key() -> str:
    """Tells one extract from the next: every extract opens a new load package."""
    return str(dlt.current.load_package_state()["load_id"])


def _feed_run(load: LoadSettings, client: CoveoClient, progress: TExportProgress | None) -> FeedRun:
    """Plan this extract from dlt's selection, state and destination; runs inside the
    extract step, where it waits for the dataset's turn (kept until dlt's run ends).
    The lean load settings come first: before this extract writes a file or opens the
    destination, as from every entry point."""
    pipeline = active_pipeline()
    pipeline_lean_defaults(pipeline)
    freeze_at_exit()
    readers = _readers(load.windows.tables)
    refreshed = refresh_requested()
    inputs = PlanInputs(
        load.windows,
        load.request,
        readers,
        planned_end(load.windows),
        load.partition,
        refreshed,
    )
    local_state = None if load.partition else dlt.current.source_state()
    options = replace(load.runner, scope=pipeline.pipeline_name)
    runner = ExportRunner(
        client, load.request, _workdir(load, pipeline), options, progress=progress
    )
    coordination = Coordination(load.coordination, load.lease_timeout)
    started = start_run(pipeline, inputs, client, runner, local_state, coordination)
    plan = started.plan
    dispositions = _record_plan(plan, readers)
    explain_plain_lake(_destination_type(), readers, plan.exports, plan.positions)
    report = new_report(pipeline)
    detail = {
        "exports": len(plan.exports),
        "repaired_windows": dict(plan.repaired_windows),
        "retried_windows": dict(plan.retried_windows),
    }
    _tell(progress, ProgressEvent("planned", Window(load.windows.start, inputs.end), None, detail))
    failures = WindowFailures(report, plan, readers, load)
    return FeedRun(
        plan.exports, started.stream, started.runner, readers, plan.positions,
        load.keep_exports, dispositions=dispositions, on_window_failed=failures.handle,
    )  # fmt: skip


def _destination_type() -> str:
    """The active pipeline's destination type ("duckdb", "filesystem", ...); "" for none."""
    destination = active_pipeline().destination
    return destination.destination_type if destination else ""


def _readers(tables: Sequence[TTable]) -> frozenset[str]:
    """The table resources dlt extracts in this run; warns if bookkeeping is left out."""
    selected = set(dlt.current.source().selected_resources)
    if BOOKKEEPING_RESOURCE not in selected:
        logger.warning(
            "the %s resource is not selected, so this run records no %s or %s rows; "
            "add it to with_resources(...)",
            BOOKKEEPING_RESOURCE, WINDOWS_TABLE, REJECTED_TABLE,
        )  # fmt: skip
    return frozenset(selected & set(tables))


def _record_plan(plan: RunPlan, readers: frozenset[str]) -> dict[str, Any] | None:
    """Put what an incremental run planned from into its state; each table's disposition
    (None in partition mode: the hints stay)."""
    if plan.committed_version is not None:
        follow_committed_version(plan.committed_version)
    if plan.positions is None:
        return None
    _record_positions(plan.positions)
    dlt.current.source_state()[CHECKED_KEY] = checked_value(plan.checked_through)
    return run_dispositions(readers, plan.appending, plan.repairing)


def _record_positions(positions: Mapping[str, datetime | None]) -> None:
    """Each read table's position as the destination's committed state has it, in this
    run's state (the worker's copy may lag behind or run ahead of it)."""
    for table, position in positions.items():
        state = dlt.current.resource_state(table)
        if position is None:
            state.pop(POSITION_KEY, None)
        else:
            state[POSITION_KEY] = position.isoformat()


def _workdir(load: LoadSettings, pipeline: dlt.Pipeline) -> Path:
    # Zips are deleted once read; dlt may wipe this folder, and nothing else is kept here.
    if load.workdir is not None:
        return load.workdir
    return Path(pipeline.working_dir) / "coveo_ua_exports"


def _table_resource(
    table: TTable,
    feeds: FeedPerExtract,
    load: LoadSettings,
    progress: TExportProgress | None,
    dimension_types: DimensionTypes,
) -> DltResource:
    def batches() -> Iterator[Any]:
        # A generator function: every extract (a source run twice, dlt's task splitting)
        # starts afresh, and gets the feed of its own extract.
        feed = feeds.current()
        read = _table_batches(table, feed, load, progress, dimension_types)
        yield from _closing_on_failure(read, feed)

    # Merges by default; a run whose windows overlap nothing loaded appends (load_path).
    key = primary_key(table)
    return dlt.resource(batches, name=table, write_disposition=MERGE, primary_key=key)


def _bookkeeping_resource(feeds: FeedPerExtract, tables: Sequence[TTable]) -> DltResource:
    """``_coveo_ua_windows`` and ``_coveo_ua_rejected_rows`` under a resource of their own.

    So dropping or resetting one table's resource (``dlt pipeline <name> drop clicks``)
    leaves the bookkeeping of the other tables alone.
    """

    def records() -> Iterator[Any]:
        if not set(dlt.current.source().selected_resources) & set(tables):
            return
        for queued in feeds.current().records():
            yield from [None] if queued is None else joined_by_table(queued)
        release_read_memory()  # every table is read: the room goes to the load step

    return dlt.resource(records, name=BOOKKEEPING_RESOURCE)


def _table_batches(
    table: TTable,
    feed: ExportFeed,
    load: LoadSettings,
    progress: TExportProgress | None,
    dimension_types: DimensionTypes,
) -> Iterator[Any]:
    """Read each export's file for ``table``; advance the table's state per window.

    Its ``_coveo_ua_windows`` row and any rejected rows and values go to the bookkeeping
    resource; all of them are committed with the data, in the same load package.
    """
    typer = None
    statistics = keeps_load_files(_destination_type())
    for ready in feed.exports_for(table):
        if typer is None:
            typer = dimension_types.typer(table, loaded_column_types(table))
            choose_disposition(table, feed.dispositions())
        rejected: list[RejectedRow] = []
        stats = ReadStats()
        read = yield from _in_background(table, ready, load, typer, rejected, stats, statistics)
        loaded, values = read.rows, read.rejected_values
        yield from _file_imports(table, read.files, typer)
        delta, bad_values = is_delta(table), sum(value.num_rows for value in values)
        for item in (
            rejected_item(table, ready, rejected),
            rejected_values_item(table, ready, values),
            coverage_item(table, ready, loaded, len(rejected), stats.repaired_values, bad_values),
        ):
            feed.record(for_delta(item) if delta else item)
        if not load.partition:
            _advance(table, ready.window.end)
        detail = {
            "table": table, "rows": loaded, "rejected": len(rejected),
            "rejected_values": bad_values, "repaired_values": stats.repaired_values,
        }  # fmt: skip
        _tell(progress, ProgressEvent("rows", ready.window, ready.export_id, detail))


@dataclass(frozen=True)
class _WindowRead:
    """A window's rows of one table, written to Parquet files on a thread of their own."""

    files: list[WrittenFile]
    rows: int
    rejected_values: list[pa.Table]


# Windows read, typed and written at once in this process (ingest/background.py).
_READ_SLOTS = work_slots(settings.EXTRACT_THREADS)


def _in_background(
    table: TTable,
    ready: ReadyExport,
    load: LoadSettings,
    typer: BatchTyper,
    rejected: list[RejectedRow],
    stats: ReadStats,
    statistics: bool,
) -> Generator[None, None, _WindowRead]:
    """Read the window on a thread of its own; yields None to dlt until it is done.
    ``statistics``: whether the Parquet files carry column statistics."""
    stem = ready.zip_path.with_name(f"{ready.zip_path.stem}.{table}.{uuid.uuid4().hex[:8]}")

    def work(check: Callable[[], None]) -> _WindowRead:
        files = ParquetFiles(
            stem,
            settings.PARQUET_ROW_GROUP_BUDGET,
            settings.PARQUET_FILE_COLUMN_CHUNKS,
            statistics=statistics,
        )
        return _write_window(table, ready, load, typer, rejected, stats, files, check)

    job = Background(work, _READ_SLOTS)
    try:
        while not job.wait(_WAIT_STEP):
            yield None
    finally:
        job.cancel()  # at once when done; otherwise the thread stops at its next batch
    return job.result()


_WAIT_STEP = 0.01  # seconds: how long a table waits for its thread before dlt goes on


def _write_window(
    table: TTable,
    ready: ReadyExport,
    load: LoadSettings,
    typer: BatchTyper,
    rejected: list[RejectedRow],
    stats: ReadStats,
    files: ParquetFiles,
    check: Callable[[], None],
) -> _WindowRead:
    """Runs on its own thread: read, type and write the window's rows; no dlt call here."""
    values = HeldRejected()  # the rejected custom dimension values of each batch
    loaded = 0
    try:
        for read in _read_window(table, ready, load, rejected, stats):
            check()
            _check_identifiers(table, read, ready.export_id)
            batch, elsewhere = keep_inside(read, ready.window, table)
            rejected += elsewhere
            loaded += batch.num_rows
            typed = typer.apply(batch, primary_key(table))
            values.add(typed.rejected)
            files.write(typed.batch)
        return _WindowRead(files.close(), loaded, values.tables())
    except BaseException:
        files.discard()
        raise


def _file_imports(table: TTable, files: list[WrittenFile], typer: BatchTyper) -> Iterator[Any]:
    """Hand dlt each written file (hard-linked into the load package), then remove ours."""
    try:
        for file in files:
            typer.describe(table, file.schema.names)
            yield dlt.mark.with_file_import(
                str(file.path),
                "parquet",
                file.rows,
                hints=pa.Table.from_batches([], schema=file.schema),
            )
            file.path.unlink(missing_ok=True)
    finally:
        for file in files:
            file.path.unlink(missing_ok=True)


def _tell(progress: TExportProgress | None, event: ProgressEvent) -> None:
    """Count ``event`` in the run's report (its summary), and pass it to ``progress``."""
    last_report(active_pipeline()).tally(event)
    if progress is not None:
        progress(event)


def _advance(table: TTable, end: datetime) -> None:
    """Move ``table``'s position to ``end``, never back (a repaired window lies behind it)."""
    state = dlt.current.resource_state(table)
    last_end = state.get(POSITION_KEY)
    if last_end is None or parse_datetime(last_end, POSITION_KEY) < end:
        state[POSITION_KEY] = end.isoformat()


def _closing_on_failure(items: Iterator[Any], feed: ExportFeed) -> Iterator[Any]:
    """``items``; when they fail, every downloaded zip is removed now, not next run."""
    try:
        yield from items
    except (Exception, KeyboardInterrupt):
        feed.close()
        raise


def _read_window(
    table: TTable,
    ready: ReadyExport,
    load: LoadSettings,
    rejected: list[RejectedRow],
    stats: ReadStats,
) -> Iterator[pa.RecordBatch]:
    """One export's batches of ``table``; a read error names the export, window and table."""
    try:
        missing = missing_table_error(ready.zip_path, table, ready.estimates.get(table))
        if missing is not None:
            raise missing
        yield from read_table(
            ready.zip_path, table, export_format=load.request.export_format,
            on_rejected=rejected.append, stats=stats,
        )  # fmt: skip
    except ExportFileError as error:
        raise ExportFileError(
            f"export {ready.export_id} for {ready.window}, table {table}: {error}"
        ) from error


def _check_identifiers(table: TTable, batch: pa.RecordBatch, export_id: str) -> None:
    missing = [name for name in primary_key(table) if name not in batch.schema.names]
    if missing:
        raise ExportFileError(
            f"export {export_id}: the {table} file has no {', '.join(missing)} column, so its "
            "rows cannot be merged without duplicates; add the identifier to `dimensions`"
        )


__all__ = ["TABLES", "coveo_ua_source"]
