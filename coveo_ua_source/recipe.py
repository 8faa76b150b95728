"""The load recipe: what every entry point does around ``pipeline.run``.

The CLI's ``load`` and ``demo``, the example pipelines and the scheduler helpers
(``orchestration``) all load through ``run_load``:

1. the bounded-memory load settings, unless the user configured them
   (``warehouse/lean_defaults.py``);
2. the pipeline's folder lock, so that one process at a time uses the folder;
3. load packages an earlier process left unfinished are discarded: they were planned
   under a turn that has ended, and their windows are planned again from what the
   destination holds. The state and schemas are restored from the destination (under
   the dataset's turn where only one process may open it: DuckDB);
4. ``pipeline.run(source)``: the source builds its first exports, then takes the
   dataset's turn (``runs/turns.py``), which the recipe keeps until step 5 is done;
5. the SQL views, and the exports whose rows are now loaded deleted on Coveo;
6. the turn returned. A run whose table lease was taken over meanwhile raises
   ``DatasetLeaseLostError`` here; a run stopped by a window the service could not give
   raises ``WindowsFailedError`` once what came before it is committed.

A bare ``pipeline.run(coveo_ua_source())`` takes turns the same way (steps 4 and 6);
only the clean-ups of steps 3 and 5 are the recipe's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from dlt.sources import DltSource

from coveo_ua_source import settings
from coveo_ua_source.configuration import client_from_config, resolve_source_config
from coveo_ua_source.disk import disk_full_error, full_disk
from coveo_ua_source.dlt_internals import LoadInfo, mark_restored
from coveo_ua_source.exceptions import DiskFullError, WindowsFailedError
from coveo_ua_source.exports.lifecycle import delete_loaded
from coveo_ua_source.runs.holdings import answers_sql
from coveo_ua_source.runs.lease import exclusive_destination
from coveo_ua_source.runs.lock import pipeline_lock
from coveo_ua_source.runs.plan import positions_from_state
from coveo_ua_source.runs.report import last_report, reported_to_caller
from coveo_ua_source.runs.turns import Coordination, turn, turn_kept
from coveo_ua_source.schema import TABLES
from coveo_ua_source.source import coveo_ua_source
from coveo_ua_source.warehouse.lean_defaults import lean_load_defaults
from coveo_ua_source.warehouse.views import create_views

logger = logging.getLogger(__name__)


def run_load(
    pipeline: Any,
    source: DltSource | None = None,
    *,
    views: bool = True,
    refresh: str | None = None,
    **source_options: Any,
) -> dict[str, Any]:
    """Load with ``pipeline``: ``source``, or ``coveo_ua_source(**source_options)``;
    ``refresh`` is dlt's (``"drop_sources"`` starts the dataset afresh).

    Returns a summary of plain values (fit for a scheduler's result): the pipeline,
    dataset and destination, the rows loaded per table, the views and the number of
    exports deleted. Raises what the run raised; ``DatasetBusyError`` when another run
    held the dataset past ``lease_timeout`` (nothing was changed).
    """
    config = resolve_source_config(source_options, pipeline.pipeline_name)
    coordination = coordination_of(config)
    lean_load_defaults(pipeline.destination)
    if source is None:
        source = coveo_ua_source(**source_options)
    with pipeline_lock(pipeline, wait=coordination.timeout), _disk_named(pipeline):
        _restore(pipeline, coordination)
        with turn_kept(pipeline), reported_to_caller(pipeline):
            info: LoadInfo = pipeline.run(source, refresh=refresh)
            info.raise_on_failed_jobs()
            with turn(pipeline, coordination):  # when the run itself had nothing to load
                made = create_views(pipeline) if views and answers_sql(pipeline) else []
                deleted = delete_loaded_exports(pipeline, config)
    _raise_if_stopped(pipeline)
    return load_summary(pipeline, made, deleted)


@contextmanager
def _disk_named(pipeline: Any) -> Iterator[None]:
    """A full disk anywhere in the run (dlt's files, the downloads) says which folder."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        full = full_disk(error)
        if full is None:
            raise
        raise disk_full_error(full, pipeline.working_dir) from error


def _raise_if_stopped(pipeline: Any) -> None:
    """A window the service could not give stopped the run: its windows before are loaded
    and committed, and the run ends in error, naming it."""
    stopped = last_report(pipeline).stopped_at
    if stopped is None:
        return
    raise WindowsFailedError(
        f"{stopped.window} ({', '.join(stopped.tables)}) could not be exported "
        f"(attempt {stopped.attempts}): {stopped.error}. The windows before it are loaded "
        "and committed; the next run starts there. If the service keeps failing it, set "
        "skip_failing_windows_after (SOURCES__COVEO_UA__SKIP_FAILING_WINDOWS_AFTER) so "
        "later windows load while it is retried"
    )


def coordination_of(config: Mapping[str, Any]) -> Coordination:
    """How runs take turns, from resolved source options."""
    mode = config.get("coordination") or settings.DEFAULT_COORDINATION
    timeout = config.get("lease_timeout")
    return Coordination(
        str(mode).strip().lower(),
        settings.DEFAULT_LEASE_TIMEOUT if timeout is None else float(timeout),
    )


def delete_loaded_exports(
    pipeline: Any, source_options: Mapping[str, Any] | None = None
) -> list[str]:
    """Once a load is committed, delete the pipeline's exports whose rows it now holds.

    A run then leaves no used export behind on Coveo; without this call the next run's
    start deletes them. Connection options missing from ``source_options`` come from dlt
    config, as the source reads them; ``keep_exports`` is honoured. Returns the ids.
    """
    config = resolve_source_config(dict(source_options or {}), pipeline.pipeline_name)
    if config.get("keep_exports"):
        return []
    state = pipeline.state.get("sources", {}).get(settings.SOURCE_SECTION, {})
    positions = positions_from_state(state, TABLES)
    return delete_loaded(client_from_config(config), pipeline.pipeline_name, positions)


def load_summary(pipeline: Any, views: list[str], deleted: list[str]) -> dict[str, Any]:
    """What a run loaded, as plain values."""
    trace = pipeline.last_trace
    normalize = trace.last_normalize_info if trace is not None else None
    counts = dict(normalize.row_counts) if normalize is not None else {}
    return {
        "pipeline_name": pipeline.pipeline_name,
        "dataset_name": pipeline.dataset_name,
        "destination": pipeline.destination.destination_name if pipeline.destination else None,
        "rows": {table: int(counts.get(table, 0)) for table in TABLES},
        "views": views,
        "exports_deleted": len(deleted),
        **last_report(pipeline).tally.summary(),
    }


def _restore(pipeline: Any, coordination: Coordination) -> None:
    """Discard what an earlier process left unfinished, and restore from the destination."""
    if pipeline.has_pending_data:
        logger.warning(
            "pipeline %r holds load packages a run did not finish: discarding them; their "
            "windows are planned again from what the destination holds",
            pipeline.pipeline_name,
        )
        pipeline.drop_pending_packages()
    exclusive = exclusive_destination(pipeline)
    with turn(pipeline, coordination) if exclusive else nullcontext():
        pipeline.sync_destination()
    mark_restored(pipeline)  # pipeline.run restores no second time, outside the turn
