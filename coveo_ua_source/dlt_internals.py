"""The parts of dlt the connector uses that are not dlt's public API, each with its reason.

Every use of a dlt module outside ``dlt``, ``dlt.sources``, ``dlt.destinations`` and the
pipeline object's public methods belongs here, so a dlt release that moves one breaks
one place.

- ``dlt.pipeline.trace.TRACKING_MODULES`` (dlt 0.3 on): the only hook that runs when a
  ``pipeline.run`` ends, successful or not. A run keeps its dataset's turn until its
  load is committed, and only this hook sees that moment in a bare ``pipeline.run``.
- ``dlt.pipeline.state_sync.load_pipeline_state_from_destination`` and
  ``dlt.common.destination.client.WithStateSync`` (dlt 0.3 on, moved to ``client`` in
  1.0): the pipeline state of the latest *completed* load in the destination. A run
  plans from it, under its turn, instead of from a local copy another worker may have
  overtaken; ``pipeline.sync_destination()`` cannot be called inside an extract.
- ``Pipeline._state_restored`` (dlt 0.4 on): ``pipeline.run`` restores the state from the
  destination once per pipeline object, unless this flag says it was done. The load
  recipe restores it itself, under the dataset's turn where the destination is a DuckDB
  file (one process at a time may open it), and sets the flag so that ``run`` does not
  open the file again outside the turn. ``restore_from_destination=False`` would also stop
  dlt from saving the state to the destination.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from dlt.common.destination.client import WithStateSync
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.pipeline import trace
from dlt.pipeline.state_sync import load_pipeline_state_from_destination

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


def mark_restored(pipeline: Any) -> None:
    """Tell ``pipeline.run`` that the state was restored from the destination already."""
    pipeline._state_restored = True


def committed_source_state(
    client: Any, pipeline_name: str, source_name: str
) -> Mapping[str, Any] | None:
    """The source's state as the destination's latest completed load left it.

    ``client``: an open job client (``pipeline.destination_client()``). ``{}`` when the
    destination holds no state of this pipeline (nothing loaded, or no dataset yet); None
    when the destination keeps no state at all.
    """
    if not isinstance(client, WithStateSync):
        return None
    try:
        state = load_pipeline_state_from_destination(pipeline_name, client)
    except DestinationUndefinedEntity:
        return {}
    if not state:
        return {}
    sources: Mapping[str, Any] = state.get("sources", {})
    return dict(sources.get(source_name, {}))
