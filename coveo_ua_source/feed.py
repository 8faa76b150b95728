"""Shares one stream of exports between the table resources of a source.

One export per window carries every table that needs that window, but dlt extracts one
resource per table. The feed plans the exports once (on the first resource's first
step, when dlt's selection and state are known), runs them, and hands each downloaded
zip to every table resource it carries. A zip is removed once every table it carries has
read it. Exports are deleted (unless ``keep_exports``) at the start of the next run,
once dlt state shows their rows were extracted: until then a crashed run can reattach.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from coveo_ua_source.exceptions import CoveoNotFoundError, CoveoUAError
from coveo_ua_source.exporter import ExportRunner, ReadyExport
from coveo_ua_source.ledger import ExportLedger
from coveo_ua_source.schema import TTable
from coveo_ua_source.windows import PlannedExport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedRun:
    """What one extract needs: the plan, where tables stand, the runner and its ledger."""

    plan: Sequence[PlannedExport]
    positions: Mapping[str, datetime | None]
    runner: ExportRunner
    ledger: ExportLedger
    readers: frozenset[str]  # the table resources dlt extracts in this run


@dataclass
class _Handout:
    ready: ReadyExport
    unread: set[TTable]


class ExportFeed:
    """Plans lazily, runs the exports, and hands them to each table in window order."""

    def __init__(self, make_run: Callable[[], FeedRun], *, keep_exports: bool = False) -> None:
        self._make_run = make_run
        self._keep_exports = keep_exports
        self._run: FeedRun | None = None
        self._stream: Iterator[ReadyExport] | None = None
        self._handouts: list[_Handout] = []
        self._finished: set[str] = set()

    def exports_for(self, table: TTable) -> Iterator[ReadyExport]:
        """Every export that carries ``table``, earliest window first."""
        try:
            position = 0
            while (handout := self._handout_at(position)) is not None:
                position += 1
                if table in handout.unread:
                    yield handout.ready
                    self._mark_read(handout, table)
        finally:
            self._finished.add(table)
            if self._run is None or self._finished >= self._run.readers:
                self.close()

    def close(self) -> None:
        """Stop the runner and remove every zip not yet removed."""
        if self._stream is not None:
            self._stream.close()  # type: ignore[attr-defined]
        for handout in self._handouts:
            if handout.unread:
                handout.ready.zip_path.unlink(missing_ok=True)

    def _start(self) -> Iterator[ReadyExport]:
        self._run = self._make_run()
        self._settle(self._run)
        return self._run.runner.run(self._run.plan)

    def _handout_at(self, position: int) -> _Handout | None:
        if self._stream is None:
            self._stream = self._start()
        while len(self._handouts) <= position:
            ready = next(self._stream, None)
            if ready is None:
                return None
            self._handouts.append(_Handout(ready, set(ready.tables)))
        return self._handouts[position]

    def _mark_read(self, handout: _Handout, table: TTable) -> None:
        handout.unread.discard(table)
        if not handout.unread:
            handout.ready.zip_path.unlink(missing_ok=True)
            assert self._run is not None
            self._run.ledger.mark_consumed(handout.ready.export_id)

    def _settle(self, run: FeedRun) -> None:
        """Delete the exports of earlier runs whose rows dlt state shows as extracted.

        Twins carrying the same description are deleted too: a create that was retried
        after a lost answer may have left one behind. A deleted export is never
        reattached to in this run; a kept one (``keep_exports``) may be, by a lookback.
        """
        finder = run.runner.finder
        for entry in run.ledger.settled(run.positions):
            run.ledger.forget(entry.export_id)
            if self._keep_exports:
                continue
            for export_id in {entry.export_id, *finder.twins(entry)}:
                self._delete_export(run.runner, export_id)
                finder.forget(export_id)

    @staticmethod
    def _delete_export(runner: ExportRunner, export_id: str) -> None:
        try:
            runner.client.delete_export(export_id)
        except CoveoNotFoundError:
            pass
        except CoveoUAError as error:
            logger.warning(
                "could not delete export %s (%s); it expires by itself", export_id, error
            )
