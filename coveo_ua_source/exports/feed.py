"""Shares one stream of exports between the resources of one extract.

One export per window carries every table that needs that window, but dlt extracts one
resource per table. The feed plans the exports once (on the first resource's first
step, when dlt's selection and state are known), runs them, and hands each downloaded
zip to every table resource it carries. A zip is removed once every table it carries has
read it. The bookkeeping rows the table resources produce are queued for the bookkeeping
resource, which takes what is queued at each of its steps (and None meanwhile, so that
dlt's round-robin extraction moves on to the table resources).

Before the first export, the used exports of earlier runs are deleted (see lifecycle).
In partition mode, where no state records what was loaded, each export is deleted as soon
as every table has read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coveo_ua_source.exports.runner import ExportRunner
from coveo_ua_source.exports.types import ReadyExport, WindowFailedError
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.schema import TTable


@dataclass(frozen=True)
class FeedRun:
    """What one extract needs: the plan, its exports (already under way), the runner that
    builds them and which tables read them.

    ``positions`` (where each table stands, from dlt state) decides which earlier exports
    are deleted first; None in partition mode, whose exports are deleted once read.
    """

    plan: Sequence[PlannedExport]
    stream: Iterator[ReadyExport]  # the runner's stream of the plan's exports
    runner: ExportRunner
    readers: frozenset[str]  # the table resources dlt extracts in this run
    positions: Mapping[str, datetime | None] | None
    keep_exports: bool = False
    on_close: Callable[[], None] = field(default=lambda: None)
    dispositions: Mapping[str, Any] | None = None  # per table; None: leave the hints alone
    # Told of each window the service could not give, with the feed's ``record``; True: go
    # on with the next ones, False: hand out nothing more (what was read commits). None:
    # the error ends the run.
    on_window_failed: Callable[[WindowFailedError, Callable[[Any], None]], bool] | None = None


@dataclass
class _Handout:
    ready: ReadyExport
    unread: set[TTable]


class ExportFeed:
    """Plans lazily, runs the exports, and hands them to each table in window order."""

    def __init__(self, make_run: Callable[[], FeedRun]) -> None:
        self._make_run = make_run
        self._run: FeedRun | None = None
        self._stream: Iterator[ReadyExport] | None = None
        self._handouts: list[_Handout] = []
        self._finished: set[str] = set()
        self._records: list[Any] = []
        self._closed = False

    def exports_for(self, table: TTable) -> Iterator[ReadyExport]:
        """Every export that carries ``table``, earliest window first."""
        read_to_the_end = False
        try:
            position = 0
            while (handout := self._handout_at(position)) is not None:
                position += 1
                if table in handout.unread:
                    yield handout.ready
                    self._mark_read(handout, table)
            read_to_the_end = True
        finally:
            self._finished.add(table)
            if self._run is None or self._finished >= self._run.readers:
                # closed early, this may be the garbage collector's doing: never wait then
                self.close(wait=read_to_the_end)

    def dispositions(self) -> Mapping[str, Any] | None:
        """Each table's write disposition in this run (see load_path); known once started."""
        return None if self._run is None else self._run.dispositions

    def record(self, item: Any) -> None:
        """Queue a bookkeeping item for the bookkeeping resource."""
        self._records.append(item)

    def records(self) -> Iterator[list[Any] | None]:
        """At each step, every bookkeeping item queued since the last one, as one list;
        None while table resources still read and nothing is queued."""
        while True:
            if self._records:
                queued, self._records = self._records, []
                yield queued
            elif self._closed:
                return
            else:
                yield None

    def close(self, wait: bool = True) -> None:
        """Stop the runner, remove every zip not yet removed, release the run's guard.

        With ``wait``, returns once the runner's threads have ended; without, the exports
        still in flight remove their zips when they end (see ``ExportRunner.join``).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._run is not None:
                _close(self._run.stream)
                if wait:
                    self._run.runner.join()
            for handout in self._handouts:
                if handout.unread:
                    handout.ready.zip_path.unlink(missing_ok=True)
        finally:
            if self._run is not None:
                self._run.on_close()

    def _start(self) -> Iterator[ReadyExport]:
        self._run = run = self._make_run()
        if run.positions is not None and not run.keep_exports:
            run.runner.book.settle(run.positions)
        return run.stream

    def _handout_at(self, position: int) -> _Handout | None:
        if self._closed:
            return None  # a failed or finished extract never starts its exports again
        if self._stream is None:
            self._stream = self._start()
        while len(self._handouts) <= position:
            ready = self._next_ready()
            if ready is None:
                return None
            self._handouts.append(_Handout(ready, set(ready.tables)))
        return self._handouts[position]

    def _next_ready(self) -> ReadyExport | None:
        """The stream's next export, past the failed windows the run may skip."""
        assert self._stream is not None
        assert self._run is not None
        while True:
            try:
                return next(self._stream, None)
            except WindowFailedError as failed:
                handler = self._run.on_window_failed
                if handler is None:
                    raise
                if not handler(failed, self.record):
                    _close(self._stream)
                    return None

    def _mark_read(self, handout: _Handout, table: TTable) -> None:
        handout.unread.discard(table)
        if handout.unread:
            return
        handout.ready.zip_path.unlink(missing_ok=True)
        run = self._run
        assert run is not None
        if run.positions is None and not run.keep_exports:
            run.runner.book.delete(handout.ready.export_id)


def _close(stream: Iterator[ReadyExport]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


class FeedPerExtract:
    """The feed of the current extract: a new one whenever dlt starts another extract."""

    def __init__(self, make_run: Callable[[], FeedRun], extract_key: Callable[[], str]) -> None:
        self._make_run = make_run
        self._extract_key = extract_key
        self._key: str | None = None
        self._feed: ExportFeed | None = None

    def current(self) -> ExportFeed:
        key = self._extract_key()
        if self._feed is None or key != self._key:
            self._key, self._feed = key, ExportFeed(self._make_run)
        return self._feed
