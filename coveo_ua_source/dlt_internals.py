"""The parts of dlt the connector uses that are not dlt's public API, each with its reason.

Every use of a dlt module outside ``dlt``, ``dlt.sources``, ``dlt.destinations`` and the
pipeline object's public methods belongs here, so a dlt release that moves one breaks
one place.

- ``dlt.pipeline.trace.TRACKING_MODULES`` (dlt 0.3 on): the only hook that runs when a
  ``pipeline.run`` ends, successful or not. A run keeps its dataset's turn until its
  load is committed, and only this hook sees that moment in a bare ``pipeline.run``.
- ``dlt.common.versioned_state.decompress_state``, ``dlt.pipeline.state_sync``'s
  ``migrate_pipeline_state``, ``PIPELINE_STATE_ENGINE_VERSION`` and
  ``load_pipeline_state_from_destination`` (as they are in dlt 1.22 to 1.31), and
  ``dlt.common.destination.client.WithStateSync`` (dlt 0.3 on, ``client`` since 1.0):
  the pipeline state committed in the destination. A run plans from it, under its turn,
  instead of from a local copy another worker may have overtaken
  (``pipeline.sync_destination()`` cannot be called inside an extract). dlt's own choice,
  the state of the newest load id, follows the order runs *started* in; runs that waited
  for their turn commit in another order, so the state chosen here is the one with the
  highest ``_state_version`` of a completed load, which ``follow_committed_version``
  keeps in commit order.
- ``dlt.common.pipeline.StateInjectableContext`` (dlt 0.3 on): the live pipeline state
  of an extract, whose ``_state_version`` a run sets past the committed one.
- ``Pipeline._state_restored`` (dlt 0.4 on): ``pipeline.run`` restores the state from the
  destination once per pipeline object, unless this flag says it was done. The load
  recipe restores it itself, under the dataset's turn where the destination is a DuckDB
  file (one process at a time may open it), and sets the flag so that ``run`` does not
  open the file again outside the turn. ``restore_from_destination=False`` would also stop
  dlt from saving the state to the destination.
- The load package state's ``refresh`` (dlt 1.31), ``dropped_tables`` and
  ``truncated_tables`` (dlt 1.22 on): whether this extract runs under
  ``pipeline.run(..., refresh=...)``, whose tables and committed state the load step
  drops. dlt 1.22 records only the tables it will drop or truncate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dlt
from dlt.common.configuration.container import Container
from dlt.common.destination.client import WithStateSync
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.pipeline import StateInjectableContext
from dlt.common.versioned_state import decompress_state
from dlt.pipeline import trace
from dlt.pipeline.state_sync import (
    PIPELINE_STATE_ENGINE_VERSION,
    load_pipeline_state_from_destination,
    migrate_pipeline_state,
)

_run_end_callbacks: list[Callable[[Any], None]] = []
_registered = threading.Lock()


class _RunEnd:
    """A dlt tracking module that tells the callbacks when a traced run ends."""

    def on_start_trace(self, trace: Any, step: Any, pipeline: Any) -> None:
        return None

    def on_start_trace_step(self, trace: Any, step: Any, pipeline: Any) -> None:
        return None

    def on_end_trace_step(
        self, trace: Any, step: Any, pipeline: Any, step_info: Any, send_state: bool
    ) -> None:
        return None

    def on_end_trace(self, trace: Any, pipeline: Any, send_state: bool) -> None:
        for callback in list(_run_end_callbacks):
            callback(pipeline)


_RUN_END = _RunEnd()


def on_run_end(callback: Callable[[Any], None]) -> None:
    """Call ``callback(pipeline)`` whenever a pipeline's run (or extract, normalize or load
    called alone) ends, whether it succeeded or failed. Registered once per callback."""
    with _registered:
        if callback not in _run_end_callbacks:
            _run_end_callbacks.append(callback)
        modules = trace.TRACKING_MODULES
        if modules is not None and _RUN_END not in modules:
            modules.append(_RUN_END)


def refresh_requested() -> bool:
    """Whether the running extract was started with ``refresh`` and drops or truncates
    tables: the destination's committed state is then about to go."""
    package_state: Mapping[str, Any] = dlt.current.load_package_state()["state"]
    return any(package_state.get(key) for key in ("refresh", "dropped_tables", "truncated_tables"))


def mark_restored(pipeline: Any) -> None:
    """Tell ``pipeline.run`` that the state was restored from the destination already."""
    pipeline._state_restored = True


@dataclass(frozen=True)
class CommittedState:
    """The source's state as committed in the destination, and that state's version."""

    version: int
    source_state: Mapping[str, Any]


def committed_source_state(
    client: Any, pipeline_name: str, source_name: str
) -> CommittedState | None:
    """The state of the completed load with the highest state version in the destination.

    ``client``: an open job client (``pipeline.destination_client()``). Version 0 and an
    empty state when the destination holds no state of this pipeline (nothing loaded, or
    no dataset yet); None when the destination keeps no state at all.
    """
    if not isinstance(client, WithStateSync):
        return None
    try:
        state = _highest_state(client, pipeline_name)
    except DestinationUndefinedEntity:
        state = None
    if not state:
        return CommittedState(0, {})
    sources: Mapping[str, Any] = state.get("sources", {})
    return CommittedState(int(state["_state_version"]), dict(sources.get(source_name, {})))


def _is_filesystem(client: Any) -> bool:
    return str(client.config.destination_type).endswith("filesystem")


def _highest_state(client: Any, pipeline_name: str) -> Any:
    if _is_filesystem(client):  # its SQL client reads files; dlt knows where its state is
        return load_pipeline_state_from_destination(pipeline_name, client)
    sql = client.sql_client
    states = sql.make_qualified_table_name(client.schema.state_table_name)
    loads = sql.make_qualified_table_name(client.schema.loads_table_name)
    version, state, name, load_id, status, loaded = (
        sql.escape_column_name(column)
        for column in ("version", "state", "pipeline_name", "_dlt_load_id", "status", "load_id")
    )
    query = (
        f"SELECT s.{state} FROM {states} AS s JOIN {loads} AS l ON l.{loaded} = s.{load_id} "  # noqa: S608
        f"WHERE s.{name} = %s AND l.{status} = 0 ORDER BY s.{version} DESC, l.{loaded} DESC"
    )
    with sql.execute_query(query, pipeline_name) as cursor:
        row = cursor.fetchone()
    if not row:
        return None
    state = decompress_state(row[0])
    # dlt 1.31's migrate_state_to_current wraps this call; dlt 1.22 has only this one
    return migrate_pipeline_state(
        pipeline_name, state, state["_state_engine_version"], PIPELINE_STATE_ENGINE_VERSION
    )


def follow_committed_version(version: int) -> None:
    """Make the state this extract commits the next version after ``version`` (the
    committed state a run read under its turn), so versions follow the commit order."""
    state: Any = Container()[StateInjectableContext].state
    target = version if state.get("_version_hash") else version + 1  # dlt bumps a hashed one
    if state.get("_state_version", 0) < target:
        state["_state_version"] = target
