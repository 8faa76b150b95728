"""The parts of dlt the connector uses that are not dlt's public API, each with its reason.

dlt's public API is its top-level names (``dlt.Pipeline``, ``dlt.current``, ``dlt.mark``,
``pipeline.dataset()``, ...), ``dlt.sources`` and ``dlt.destinations``. Every import from
the rest of dlt (``dlt.common``, ``dlt.extract``, ``dlt.pipeline``, ...) is in this module,
so a dlt release that moves one breaks one place; ``tests/unit/test_dlt_internals.py``
fails on such an import anywhere else. Each name below is in dlt 1.22.0 and 1.31.0, the
ends of the supported range, both tested; "since" is the first dlt release whose source
has it where it is imported from (0.2.6 is the oldest release tagged in dlt's repository).

Types, named in annotations only, which no public module exports:

- ``TColumnSchema`` and ``TTableSchema`` (``dlt.common.schema.typing``, since 0.2.6): the
  column and table hints given to ``Schema.update_table`` and a destination's merge
  strategy selector, and read back from ``pipeline.default_schema``.
- ``DataItemWithMeta`` (``dlt.extract.items``, since 0.4.6): what ``dlt.mark.with_hints``
  returns, the bookkeeping items a resource yields and joins before yielding.
- ``LoadInfo`` (``dlt.common.pipeline``, since 0.2.6): what ``pipeline.run`` returns.
- ``LookupTraces`` (``dlt.common.configuration.exceptions``, since 1.17): the keys dlt
  looked up for a missing setting, which the CLI prints in a line.

Exceptions the connector catches, or the CLI maps to an exit code and a message:

- ``ConfigFieldMissingException``, ``ConfigValueCannotBeCoercedException``
  (``dlt.common.configuration.exceptions``) and ``MissingDependencyException``
  (``dlt.common.exceptions``), since 0.2.6: a setting set nowhere or of the wrong type,
  and an extra to install; the CLI says which and exits with 2.
- ``CannotRestorePipelineException`` (``dlt.pipeline.exceptions``, since 0.2.6):
  ``dlt.attach`` of a pipeline that has no working folder here.
- ``DestinationUndefinedEntity`` (``dlt.common.destination.exceptions``, since 0.4.8): a
  query on a dataset or table that does not exist yet, which means nothing is loaded.
- ``CurrentSourceSchemaNotAvailable`` (``dlt.extract.exceptions``, since 0.4.3):
  ``dlt.current.source_schema()`` called outside an extract step.

Helpers with no public equivalent:

- ``new_table`` (``dlt.common.schema.utils``, since 0.2.6): a table's hints as dlt
  builds them for ``Schema.update_table`` (column descriptions given during an extract).
- ``SnakeCaseNaming``, dlt's ``snake_case`` ``NamingConvention``
  (``dlt.common.normalizers.naming.snake_case``, since 0.2.6): how dlt names a CSV
  header's column, known before any schema exists (the reader matches headers with it).
- ``new_dlt_id`` (``generate_dlt_ids`` of ``dlt.common.normalizers.utils``, since 0.3.23):
  a random id of the form dlt gives ``_dlt_id``, the prefix of the bookkeeping rows' ids.
- ``active_pipeline`` (``Container`` of ``dlt.common.configuration.container`` and
  ``PipelineContext`` of ``dlt.common.pipeline``, since 0.2.6): the pipeline running the
  extract. ``dlt.current.pipeline()`` resolves the pipeline configuration on every call;
  the active pipeline is in dlt's context already.
- ``resolve_in_sections`` (``inject_section`` and ``resolve_configuration`` of
  ``dlt.common.configuration``, ``ConfigSectionContext`` of its
  ``specs.config_section_context``, since 0.2.6): the source's options resolved outside
  ``pipeline.run``, through the source's own configuration spec and sections, so that the
  CLI and the load recipe read what ``coveo_ua_source(...)`` would.
- ``destination_with_credentials`` (``Destination.from_reference`` of
  ``dlt.common.destination.reference``, since 0.4.1): a destination named by the CLI's
  ``--destination`` (a name or a module path, as ``dlt.pipeline`` takes it) with the
  credentials of ``--credentials``.

A run's turn and the state it plans from:

- ``dlt.pipeline.trace.TRACKING_MODULES`` (since 0.4.1): the only hook that runs when a
  ``pipeline.run`` ends, successful or not. A run keeps its dataset's turn until its
  load is committed, and only this hook sees that moment in a bare ``pipeline.run``.
- ``dlt.common.versioned_state.decompress_state`` (since 0.4.9), ``dlt.pipeline.state_sync``'s
  ``migrate_pipeline_state``, ``PIPELINE_STATE_ENGINE_VERSION`` and
  ``load_pipeline_state_from_destination`` (since 0.4.7, with the signatures of dlt 1.22
  to 1.31), and ``dlt.common.destination.client.WithStateSync`` (since 1.6): the pipeline
  state committed in the destination. A run plans from it, under its turn,
  instead of from a local copy another worker may have overtaken
  (``pipeline.sync_destination()`` cannot be called inside an extract). dlt's own choice,
  the state of the newest load id, follows the order runs *started* in; runs that waited
  for their turn commit in another order, so the state chosen here is the one with the
  highest ``_state_version`` of a completed load, which ``follow_committed_version``
  keeps in commit order.
- ``dlt.common.pipeline.StateInjectableContext`` (since 0.2.6): the live pipeline state
  of an extract, whose ``_state_version`` a run sets past the committed one.
- ``Pipeline._state_restored`` (since 0.2.6): ``pipeline.run`` restores the state from the
  destination once per pipeline object, unless this flag says it was done. The load
  recipe restores it itself, under the dataset's turn where the destination is a DuckDB
  file (one process at a time may open it), and sets the flag so that ``run`` does not
  open the file again outside the turn. ``restore_from_destination=False`` would also stop
  dlt from saving the state to the destination.
- The load package state's ``dropped_tables`` and ``truncated_tables`` (1.22 on) and
  ``refresh`` (in 1.31, not in 1.26): whether this extract runs under
  ``pipeline.run(..., refresh=...)``, whose tables and committed state the load step
  drops. dlt 1.22 records only the tables it will drop or truncate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dlt
from dlt.common.configuration import inject_section, resolve_configuration
from dlt.common.configuration.container import Container
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
    LookupTraces,
)
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.destination.client import WithStateSync
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.destination.reference import Destination
from dlt.common.exceptions import MissingDependencyException
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCaseNaming
from dlt.common.normalizers.utils import generate_dlt_ids
from dlt.common.pipeline import LoadInfo, PipelineContext, StateInjectableContext
from dlt.common.schema.typing import TColumnSchema, TTableSchema
from dlt.common.schema.utils import new_table
from dlt.common.versioned_state import decompress_state
from dlt.extract.exceptions import CurrentSourceSchemaNotAvailable
from dlt.extract.items import DataItemWithMeta
from dlt.pipeline import trace
from dlt.pipeline.exceptions import CannotRestorePipelineException
from dlt.pipeline.state_sync import (
    PIPELINE_STATE_ENGINE_VERSION,
    load_pipeline_state_from_destination,
    migrate_pipeline_state,
)

__all__ = [
    "CannotRestorePipelineException",
    "CommittedState",
    "ConfigFieldMissingException",
    "ConfigValueCannotBeCoercedException",
    "CurrentSourceSchemaNotAvailable",
    "DataItemWithMeta",
    "DestinationUndefinedEntity",
    "LoadInfo",
    "LookupTraces",
    "MissingDependencyException",
    "SnakeCaseNaming",
    "TColumnSchema",
    "TTableSchema",
    "active_pipeline",
    "committed_source_state",
    "destination_with_credentials",
    "follow_committed_version",
    "mark_restored",
    "new_dlt_id",
    "new_table",
    "on_run_end",
    "refresh_requested",
    "resolve_in_sections",
]

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


def active_pipeline() -> Any:
    """The pipeline running this extract, else ``dlt.current.pipeline()``."""
    context = Container()[PipelineContext]
    return context.pipeline() if context.is_active() else dlt.current.pipeline()


def new_dlt_id() -> str:
    """A random id as dlt makes one for ``_dlt_id``."""
    return generate_dlt_ids(1)[0]


def resolve_in_sections(
    spec: Any, sections: tuple[str, ...], pipeline_name: str | None, explicit: Mapping[str, Any]
) -> Any:
    """``spec`` resolved as dlt resolves a source's configuration: ``explicit`` values,
    then the providers (environment, TOML) under ``sections``; missing fields stay unset."""
    context = ConfigSectionContext(pipeline_name=pipeline_name, sections=sections)
    with inject_section(context):
        return resolve_configuration(
            spec, sections=sections, explicit_value=explicit, accept_partial=True
        )


def destination_with_credentials(reference: str, credentials: str) -> Any:
    """The destination ``reference`` names (``postgres``, or a module path), with
    ``credentials`` (a connection string)."""
    return Destination.from_reference(reference, credentials=credentials)


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
