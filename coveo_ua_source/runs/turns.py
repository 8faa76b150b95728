"""When a run takes its dataset's turn, and when it gives it back.

The source takes the turn in the extract step (``take_turn``), once it has started
building its first exports, so the slow part of a run overlaps other runs' loads. It
keeps the turn until dlt's run ends, committed or failed (a hook at the end of dlt's
trace returns it), so that what a run decides under its turn and the load it leads to are
one turn. A caller that has more to do under the same turn (the load recipe: views, the
used exports) wraps the run in ``turn_kept`` and returns the turn itself; ``turn`` takes
one for work outside a run (restoring the state before the run).

The turn is the dataset's lease (``runs/lease.py``); this module only keeps track of
which pipeline holds which lease in this process.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from coveo_ua_source import settings
from coveo_ua_source.dlt_internals import on_run_end
from coveo_ua_source.exceptions import DatasetLeaseLostError
from coveo_ua_source.runs.holdings import DestinationView, destination_view
from coveo_ua_source.runs.lease import Holder, Lease, acquire, exclusive_destination, lease_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Coordination:
    """How runs of a dataset take turns: ``mode`` (auto, table, off) and how long a run
    waits for its turn (``timeout``, seconds)."""

    mode: str
    timeout: float


@dataclass
class _Turn:
    lease: Lease | None  # None: the destination is not coordinated
    kept_by_caller: bool


_turns: weakref.WeakKeyDictionary[Any, _Turn] = weakref.WeakKeyDictionary()
_kept: weakref.WeakSet[Any] = weakref.WeakSet()
_guard = threading.Lock()


def take_turn(pipeline: Any, coordination: Coordination) -> float:
    """Hold ``pipeline``'s dataset turn for the rest of its run; the seconds waited.

    Does nothing when the pipeline holds it already (the load recipe took it, or an
    earlier run of this pipeline object whose end dlt did not report).
    """
    with _guard:
        if pipeline in _turns:
            return 0.0
    holder = Holder.this_process(str(pipeline.pipeline_name))
    lease = lease_for(pipeline, coordination.mode, holder)
    waited = 0.0
    if lease is not None:
        try:
            waited = acquire(lease, coordination.timeout)
        except BaseException:
            lease.release()
            raise
    with _guard:
        _turns[pipeline] = _Turn(lease, kept_by_caller=pipeline in _kept)
    return waited


def holds_turn(pipeline: Any) -> bool:
    with _guard:
        return pipeline in _turns


def return_turn(pipeline: Any) -> None:
    """Give the dataset's turn back; raises ``DatasetLeaseLostError`` if it was taken over
    meanwhile (then another run may have loaded at the same time: the next run repairs)."""
    with _guard:
        turn = _turns.pop(pipeline, None)
    if turn is None or turn.lease is None:
        return
    lost = turn.lease.lost()
    turn.lease.release()
    if lost:
        raise DatasetLeaseLostError(
            f"{turn.lease.what}: this run's lease was taken over while it loaded (its "
            "heartbeat did not reach the database in time). Its rows are loaded, but "
            "another run may have loaded the same windows at once: run again, and the "
            "next run checks the windows for duplicate rows and repairs them"
        )


@contextmanager
def turn(pipeline: Any, coordination: Coordination) -> Iterator[None]:
    """Hold the dataset's turn for the block, unless the pipeline holds it already."""
    if holds_turn(pipeline):
        yield
        return
    take_turn(pipeline, coordination)
    try:
        yield
    finally:
        return_turn(pipeline)


@contextmanager
def turn_kept(pipeline: Any) -> Iterator[None]:
    """The turn a run takes inside the block is kept until the block ends, then returned."""
    with _guard:
        _kept.add(pipeline)
    try:
        yield
    finally:
        with _guard:
            _kept.discard(pipeline)
        return_turn(pipeline)


@contextmanager
def reading_destination(pipeline: Any | None) -> Iterator[DestinationView]:
    """A view of what the destination holds, for a command outside a run (the dry run,
    prune): under the dataset's turn where only one process may open the destination."""
    if pipeline is not None and exclusive_destination(pipeline):
        coordination = Coordination(settings.DEFAULT_COORDINATION, settings.DEFAULT_LEASE_TIMEOUT)
        with turn(pipeline, coordination), destination_view(pipeline) as view:
            yield view
    else:
        with destination_view(pipeline) as view:
            yield view


def _at_run_end(pipeline: Any) -> None:
    with _guard:
        turn = _turns.get(pipeline)
    if turn is None or turn.kept_by_caller:
        return
    try:
        return_turn(pipeline)
    except DatasetLeaseLostError as error:  # dlt ignores what its hooks raise: say it loudly
        logger.error("%s", error)


on_run_end(_at_run_end)
