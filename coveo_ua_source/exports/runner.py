"""The export lifecycle: create, poll, download; several windows at once. No dlt here.

``ExportRunner.run(plan)`` starts the plan's first ``max_concurrent`` exports at once and
returns a stream that yields one ``ReadyExport`` (a downloaded, readable zip) per planned
window, in plan order, while the later exports are built by the service. A FAILED export
is created again once, then its window is split in halves down to ``min_window``; an
export that vanished before its download (EXPIRED, or deleted by another run) is created
again; a corrupt download is fetched again once.

Closing the stream early stops the exports in flight without waiting for them (each
removes its zip when it ends); ``join()`` then waits for them. Nothing waits in the
stream's own clean-up, because the garbage collector may run that clean-up at any
moment, in any thread: also in one of the run's own threads, or while that thread holds
a lock of the ``threading`` module that a wait needs (a deadlock, seen in the tests).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coveo_ua_source import settings
from coveo_ua_source.api.client import CoveoClient, ExportInfo
from coveo_ua_source.dates import Window
from coveo_ua_source.disk import disk_full_error, full_disk
from coveo_ua_source.exceptions import (
    CoveoBadRequestError,
    CoveoNotFoundError,
    CoveoUAError,
    DownloadStalledError,
    ExportFailedError,
    ExportFileError,
    ExportTimeoutError,
)
from coveo_ua_source.exports.lifecycle import ExportBook, ExportIdentity
from coveo_ua_source.exports.types import (
    ExportRequest,
    ProgressEvent,
    ReadyExport,
    RunnerOptions,
    TExportProgress,
    WindowFailedError,
)
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.ingest.archive import table_members

logger = logging.getLogger(__name__)


class _Cancelled(CoveoUAError):
    """The run was closed while this export was still being built."""


class _Vanished(CoveoUAError):
    """The export is gone (deleted by another run, or expired), or the service answered
    with another export: create it again."""


class ExportRunner:
    """Builds and downloads the exports of a plan, a few at a time."""

    def __init__(
        self,
        client: CoveoClient,
        request: ExportRequest,
        workdir: Path,
        options: RunnerOptions | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        progress: TExportProgress | None = None,
        book: ExportBook | None = None,
    ) -> None:
        self.client = client
        self.request = request
        self.workdir = workdir
        self.options = options or RunnerOptions()
        self.book = book or ExportBook(
            client, ExportIdentity.of(client.api_root, self.options.scope, request)
        )
        self._stop = threading.Event()
        self._sleep = sleep or self._interruptible_sleep
        self._progress = progress
        self._pool: ThreadPoolExecutor | None = None
        # The exports this runner created or reattached to, by id.
        self.touched: dict[str, PlannedExport] = {}

    def run(self, plan: Sequence[PlannedExport]) -> ExportStream:
        """Start the plan's exports at once; the stream yields them in plan order."""
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for leftover in self.workdir.glob("export-*.zip"):
            _remove(leftover)  # from a run that was killed mid-download
        workers = max(1, self.options.max_concurrent)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coveo-export")
        self._pool = pool
        return ExportStream(self, pool, plan, workers)

    def sibling(self) -> ExportRunner:
        """A runner for another plan, sharing this one's client, options and export book
        (so it reattaches to the exports this one created)."""
        return ExportRunner(
            self.client, self.request, self.workdir, self.options,
            sleep=None if self._sleep == self._interruptible_sleep else self._sleep,
            progress=self._progress, book=self.book,
        )  # fmt: skip

    def join(self) -> None:
        """Wait until the threads of ``run()`` have ended, after its stream was closed;
        the zips of exports nobody read are removed by then. Not for clean-up code that
        the garbage collector may run (see the module docstring)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def produce(self, planned: PlannedExport) -> list[ReadyExport]:
        """Create, wait for and download one window; split it when the service cannot.

        An export that vanishes meanwhile (deleted by another run, or expired) is created
        again, up to EXPORT_VANISHED_RETRIES times; one that ends FAILED twice is split.
        """
        failed = vanished = 0
        while True:
            try:
                ready = self._attempt(planned)
            except CoveoBadRequestError as error:
                if not _is_row_limit(error):
                    raise
                return self._split(planned, "the export exceeds the org's row limit")
            except _Vanished as gone:
                vanished += 1
                if vanished > settings.EXPORT_VANISHED_RETRIES:
                    raise ExportFailedError(
                        f"the export of {planned.window} was lost {vanished} times, the last "
                        f"time because {gone}; rerun later"
                    ) from gone
                logger.info("%s; creating it again", gone)
                continue
            if ready is not None:
                return [ready]
            failed += 1
            if failed == 2:
                return self._split(planned, "the export FAILED twice")

    def _attempt(self, planned: PlannedExport) -> ReadyExport | None:
        """One create-poll-download; None when the export FAILED."""
        info = self._reattach(planned) or self._create(planned)
        self._check_identity(info, planned)
        info = self._wait(info, planned.window)
        self._check_identity(info, planned)
        if info.status == "EXPIRED":
            self._forget(info.id)
            raise _Vanished(f"export {info.id} expired before its download")
        if info.status != "AVAILABLE":
            logger.warning("export %s for %s ended %s", info.id, planned.window, info.status)
            self._forget(info.id)
            return None
        path = self._download(info.id, planned, info.size)
        if path is None:
            self._forget(info.id)
            raise _Vanished(f"export {info.id} vanished before its download")
        self._emit("ready", planned.window, info.id, {"tables": planned.tables})
        return ReadyExport(planned.window, planned.tables, info.id, path, planned.estimates)

    def _check_identity(self, info: ExportInfo, planned: PlannedExport) -> None:
        """Refuse an answer that describes another export than the one asked for: the
        service answered with another window's export, whose rows would be recorded as
        this window's. It is never used for this window; the window is created again."""
        answered = describe_mismatch(info, planned)
        if answered is None:
            return
        self._forget(info.id)
        logger.warning(
            "export %s answered for %s describes %s: not using it, creating it again",
            info.id, planned.window, answered,
        )  # fmt: skip
        raise _Vanished(f"the service answered with export {info.id}, of {answered}")

    def _split(self, planned: PlannedExport, reason: str) -> list[ReadyExport]:
        first, second = planned.window.halves()
        if first.duration < self.options.min_window:
            raise ExportFailedError(
                f"the export of {', '.join(planned.tables)} for {planned.window} could not be "
                f"built: {reason}, and the window is already at the minimum size "
                f"{self.options.min_window}; retry later or narrow the filters"
            )
        logger.warning("splitting %s: %s", planned.window, reason)
        self._emit("split", planned.window, detail={"reason": reason})
        halves = [PlannedExport(first, planned.tables), PlannedExport(second, planned.tables)]
        return [ready for half in halves for ready in self.produce(half)]

    def _reattach(self, planned: PlannedExport) -> ExportInfo | None:
        """The export a previous run created for this window, if it is still usable."""
        info = self.book.find(planned)
        if info is not None:
            self.touched[info.id] = planned
            logger.info("reattached to export %s for %s", info.id, planned.window)
            self._emit("reattached", planned.window, info.id)
        return info

    def _forget(self, export_id: str) -> None:
        self.book.forget(export_id)

    def _create(self, planned: PlannedExport) -> ExportInfo:
        self._check_stop()
        request = self.request
        info = self.client.create_export(
            planned.window.start,
            planned.window.end,
            tables=planned.tables,
            dimensions=request.dimensions,
            filters=request.filters,
            search_filters=request.search_filters,
            custom_event_filters=request.custom_event_filters,
            export_format=request.export_format,
            use_display_names=request.use_display_names,
            description=self.book.describe(planned),
        )
        self.touched[info.id] = planned
        self._emit("created", planned.window, info.id)
        return info

    def _wait(self, info: ExportInfo, window: Window) -> ExportInfo:
        """Poll with a doubling interval until the export is no longer PENDING."""
        interval, waited = self.options.poll_interval, 0.0
        while info.status == "PENDING":
            if waited >= self.options.max_wait:
                raise ExportTimeoutError(
                    f"export {info.id} for {window} is still PENDING after {waited:.0f} s "
                    f"(max_wait={self.options.max_wait:.0f} s); raise max_wait or shorten "
                    "the window, and rerun: the export is reused if it becomes AVAILABLE"
                )
            self._sleep(interval)
            waited += interval
            interval = min(interval * 2, settings.POLL_MAX_INTERVAL)
            try:
                info = self.client.get_export(info.id)
            except CoveoNotFoundError:
                self._forget(info.id)
                raise _Vanished(
                    f"export {info.id} vanished while it was built (another run deleted it?)"
                ) from None
            self._emit("polled", window, info.id, {"status": info.status, "waited": waited})
        return info

    def _download(
        self, export_id: str, planned: PlannedExport, size: int | None = None
    ) -> Path | None:
        """Download and check the zip; fetch once more if it is corrupt. None if EXPIRED."""
        for attempt in range(2):
            path = self._new_zip_path()
            try:
                self.client.download_export(
                    export_id, path, on_progress=self._download_progress(planned, export_id)
                )
                table_members(path)
            except (CoveoNotFoundError, CoveoBadRequestError):
                _remove(path)
                if self._expired(export_id):
                    return None
                raise
            except ExportFileError as error:
                _remove(path)
                if attempt == 1:
                    raise ExportFileError(
                        f"export {export_id} for {planned.window} was downloaded twice and is "
                        f"not a readable zip either time ({error}); rerun later"
                    ) from error
                logger.warning("export %s: %s; downloading again", export_id, error)
                continue
            except OSError as error:
                _remove(path)
                if full_disk(error) is not None:
                    raise disk_full_error(error, self.workdir, size) from error
                raise
            except BaseException:
                _remove(path)
                raise
            return path
        return None

    def _expired(self, export_id: str) -> bool:
        """Whether a download failed because the export expired (or vanished) meanwhile."""
        try:
            return self.client.get_export(export_id).status == "EXPIRED"
        except CoveoNotFoundError:
            return True

    def _download_progress(
        self, planned: PlannedExport, export_id: str
    ) -> Callable[[int, int | None], None]:
        def report(done: int, total: int | None) -> None:
            detail = {"bytes": done, "total": total}
            self._emit("downloading", planned.window, export_id, detail)

        return report

    def _new_zip_path(self) -> Path:
        handle, name = tempfile.mkstemp(prefix="export-", suffix=".zip", dir=self.workdir)
        os.close(handle)
        return Path(name)

    def _emit(
        self, kind: str, window: Window, export_id: str | None = None, detail: Any = None
    ) -> None:
        if self._progress is not None:
            self._progress(ProgressEvent(kind, window, export_id, detail or {}))

    def stop(self) -> None:
        """Stop every export of this runner at its next wait."""
        self._stop.set()

    def _interruptible_sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Cancelled("the run was stopped")

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise _Cancelled("the run was stopped")


class ExportStream(Iterator[ReadyExport]):
    """The exports of one plan in plan order, ``max_concurrent`` of them built ahead.

    Work starts when the stream is made, before anyone reads it: a run builds and
    downloads while it waits for its turn to load. Closing it (or dropping it) stops the
    exports in flight without waiting for them.
    """

    def __init__(
        self,
        runner: ExportRunner,
        pool: ThreadPoolExecutor,
        plan: Sequence[PlannedExport],
        workers: int,
    ) -> None:
        self.plan = list(plan)
        self._runner = runner
        self._pool = pool
        self._upcoming = iter(self.plan)
        self._in_flight: deque[tuple[PlannedExport, Future[list[ReadyExport]]]] = deque()
        self._ready: deque[ReadyExport] = deque()
        self._closed = False
        for planned in itertools.islice(self._upcoming, workers):
            self._in_flight.append((planned, pool.submit(runner.produce, planned)))

    def __next__(self) -> ReadyExport:
        """The next export; ``WindowFailedError`` for a window the service could not give
        (the stream goes on with the next ones if read again)."""
        try:
            while not self._ready:
                if self._closed or not self._in_flight:
                    self._finish()
                    raise StopIteration
                planned, future = self._in_flight.popleft()
                following = next(self._upcoming, None)
                if following is not None:
                    self._in_flight.append(
                        (following, self._pool.submit(self._runner.produce, following))
                    )
                self._ready.extend(_result(planned, future))
        except StopIteration:
            raise
        except WindowFailedError:
            if not self._in_flight:
                self._finish()  # nothing follows: the threads end now
            raise
        except BaseException:
            self.close()
            raise
        return self._ready.popleft()

    def close(self) -> None:
        """Stop the exports in flight; each removes its zip when it ends (never waits)."""
        if self._closed:
            return
        self._closed = True
        self._runner.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for ready in self._ready:
            _remove(ready.zip_path)
        self._ready.clear()
        for _, future in self._in_flight:
            future.add_done_callback(_discard_downloads)

    def __del__(self) -> None:
        self.close()

    def _finish(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=True)  # every export consumed: the threads end at once


# What the service can fail at for one window while the others are fine: a bad day on its
# side. Anything else (the token, the parameters, the service unreachable) ends the run.
WINDOW_ERRORS = (ExportFailedError, ExportTimeoutError, ExportFileError, DownloadStalledError)


def _result(planned: PlannedExport, future: Future[list[ReadyExport]]) -> list[ReadyExport]:
    try:
        return future.result()
    except WINDOW_ERRORS as error:
        raise WindowFailedError(planned, error) from error


def describe_mismatch(info: ExportInfo, planned: PlannedExport) -> str | None:
    """How ``info`` differs from the export ``planned`` asks for (window, tables); None
    when it matches, or when the service left those fields out."""
    if info.start is not None and info.end is not None:
        answered = Window(info.start, info.end)
        if answered != planned.window:
            return f"the window {answered}"
    missing = [table for table in planned.tables if info.tables and table not in info.tables]
    if missing:
        return f"the tables {', '.join(info.tables)}, without {', '.join(missing)}"
    return None


def _discard_downloads(future: Future[list[ReadyExport]]) -> None:
    """Remove the zips of an export that was downloaded but never consumed."""
    if future.cancelled() or future.exception() is not None:
        return
    for ready in future.result():
        _remove(ready.zip_path)


def _is_row_limit(error: CoveoBadRequestError) -> bool:
    text = f"{error.service_message}".lower()
    return "row limit" in text or "row_limit" in text


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
