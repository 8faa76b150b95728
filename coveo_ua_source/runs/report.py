"""What a run could not do, for whoever started it: the windows the service could not
give; and what it read (``RunTally``), for the run's summary.

The source notes each failed window here (and in ``_coveo_ua_windows``) while it extracts;
the load recipe reads the note once the load is committed and raises ``WindowsFailedError``
when a window stopped the run, so what came before it is kept. A bare ``pipeline.run``
has no one to read the note: there a failed window ends the extract with its error, and
nothing of the run is committed (dlt's rule), unless the window is skipped. One note per
pipeline object, replaced by its next run.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from coveo_ua_source.arguments import LoadSettings
from coveo_ua_source.dates import Window
from coveo_ua_source.exports.types import WindowFailedError
from coveo_ua_source.runs.plan import RunPlan
from coveo_ua_source.runs.tally import RunTally
from coveo_ua_source.warehouse.bookkeeping import failed_item

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedWindow:
    """A window the service could not give, and what the run did about it."""

    window: Window
    tables: tuple[str, ...]
    attempts: int  # runs that tried it, this one included
    error: str
    skipped: bool  # True: later windows loaded (``skip_failing_windows_after``)


@dataclass
class RunReport:
    # Whether whoever started the run reads this report once the load is committed (the
    # load recipe does); a bare ``pipeline.run`` does not, so a failed window ends it.
    read_by_caller: bool = False
    failed: list[FailedWindow] = field(default_factory=list)
    # what the run read: windows, rows, rejected rows and values per table
    tally: RunTally = field(default_factory=RunTally)

    @property
    def stopped_at(self) -> FailedWindow | None:
        """The failed window that stopped the run (later windows were not loaded)."""
        return next((failed for failed in self.failed if not failed.skipped), None)


_reports: weakref.WeakKeyDictionary[Any, RunReport] = weakref.WeakKeyDictionary()
_readers: weakref.WeakSet[Any] = weakref.WeakSet()
_guard = threading.Lock()


@contextmanager
def reported_to_caller(pipeline: Any) -> Iterator[None]:
    """Runs of ``pipeline`` inside the block leave their failed windows to the caller, who
    reads ``last_report`` after the load: the windows before a failed one commit."""
    with _guard:
        _readers.add(pipeline)
    try:
        yield
    finally:
        with _guard:
            _readers.discard(pipeline)


def new_report(pipeline: Any) -> RunReport:
    """A fresh report for the run of ``pipeline`` that starts now."""
    with _guard:
        _reports[pipeline] = report = RunReport(read_by_caller=pipeline in _readers)
    return report


def last_report(pipeline: Any) -> RunReport:
    """The report of ``pipeline``'s latest run (empty when it ran no extract)."""
    with _guard:
        return _reports.get(pipeline) or RunReport()


class WindowFailures:
    """What a run does with a window the service could not give: the windows before it
    commit; it is recorded failed in ``_coveo_ua_windows`` and noted for the caller; the
    run stops there, or skips it once it failed in ``skip_failing_windows_after`` runs."""

    def __init__(
        self, report: RunReport, plan: RunPlan, readers: frozenset[str], load: LoadSettings
    ) -> None:
        self._report, self._plan, self._readers, self._load = report, plan, readers, load

    def handle(self, failed: WindowFailedError, record: Callable[[Any], None]) -> bool:
        """Record the failed window; True to skip it. With nobody to read the report (a
        bare ``pipeline.run``) a window that is not skipped ends the run, as its error."""
        planned = failed.planned
        tables = tuple(table for table in planned.tables if table in self._readers)
        attempts = 1 + max(
            (self._plan.failed_before.get((t, planned.window), (0, ""))[0] for t in tables),
            default=0,
        )
        error = f"{type(failed.error).__name__}: {failed.error}"
        after = self._load.skip_failing_windows_after
        skipped = 0 < after <= attempts
        if not skipped and not self._report.read_by_caller:
            raise failed.error
        for table in tables:
            item = failed_item(table, planned.window, planned.estimates.get(table), attempts, error)
            record(item)
        self._report.failed.append(FailedWindow(planned.window, tables, attempts, error, skipped))
        logger.error(
            "%s (%s) could not be exported (attempt %d): %s; %s", planned.window,
            ", ".join(tables), attempts, error,
            f"skipping it (skip_failing_windows_after={after}); a later run tries it again"
            if skipped else "the windows before it are loaded, the next run starts there",
        )  # fmt: skip
        return skipped
