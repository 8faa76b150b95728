"""A terminal progress display for `coveo-ua load`, fed by the runner's progress events.

A first line counts the windows loaded out of those planned, with the elapsed time and an
ETA; below it a line per export window in progress: its status and time waited while the
service builds it, a byte bar while it downloads, and the rows read once loaded. A loaded
window's line goes away (``keep_windows`` keeps it). Events arrive from the runner's worker
threads; rich's Progress is safe to update from several threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from coveo_ua_source.dates import Window
from coveo_ua_source.exports.types import ProgressEvent


def eta_text(elapsed: float, done: int, total: int) -> str:
    """``ETA 3m 20s`` from the average time per window so far (``ETA ?`` before the first)."""
    if done >= total:
        return "done"
    if done == 0:
        return "ETA ?"
    seconds = round(elapsed / done * (total - done))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"ETA {hours}h {minutes:02d}m"
    return f"ETA {minutes}m {seconds:02d}s" if minutes else f"ETA {seconds}s"


def clock_text(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


class _BytesColumn(DownloadColumn):
    """Bytes downloaded, on the window lines only (the overall line counts windows)."""

    def render(self, task: Task) -> Text:
        return super().render(task) if task.fields.get("bytes") else Text("")


class LoadProgress:
    """Use as a context manager; pass the instance as the source's ``progress``."""

    def __init__(
        self,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        keep_windows: bool = False,
    ) -> None:
        columns: list[ProgressColumn] = [
            TextColumn("{task.fields[window]}"),
            TextColumn("{task.fields[status]:<28}"),
            BarColumn(bar_width=24),
            _BytesColumn(),
            TimeElapsedColumn(),
        ]
        self._progress = Progress(*columns, console=console, transient=False)
        self._clock = clock
        self._began = clock()
        self._overall: TaskID | None = None
        self._planned = 0
        self._done: set[Window] = set()
        self._tasks: dict[Window, TaskID] = {}
        self._started: dict[Window, float] = {}
        self._rows: dict[Window, dict[str, int]] = {}
        self._tables: dict[Window, int] = {}
        self._keep_windows = keep_windows
        self._lock = threading.Lock()

    def __enter__(self) -> LoadProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    @property
    def summary(self) -> str:
        """``window k of N``, elapsed and ETA, as the first line shows them."""
        elapsed = self._clock() - self._began
        done = len(self._done)
        eta = eta_text(elapsed, done, self._planned)
        return f"window {done} of {self._planned}, {clock_text(elapsed)} elapsed, {eta}"

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.kind == "planned":
                self._plan(int(event.detail["exports"]))
                return
            if event.window in self._done and not self._keep_windows:
                return  # its line is gone
            if event.kind == "split":
                self._planned += 1  # one window became two
            task = self._task(event.window)
            self._progress.update(task, status=self._status(event))
            if event.kind == "downloading":
                total = event.detail.get("total")
                self._progress.update(task, completed=event.detail["bytes"], total=total)
            if event.kind == "ready":
                self._tables[event.window] = len(event.detail.get("tables", ()))
            if len(self._rows.get(event.window, {})) == self._tables.get(event.window, -1):
                self._window_done(event.window, task)
            self._show_overall()

    def _window_done(self, window: Window, task: TaskID) -> None:
        """Every table has read the window: its clock stops, or its line goes away."""
        if window in self._done:
            return
        self._done.add(window)
        if self._keep_windows:
            self._progress.stop_task(task)
        else:
            self._progress.remove_task(task)

    def _plan(self, exports: int) -> None:
        self._planned = exports
        self._began = self._clock()
        self._overall = self._progress.add_task("", total=exports, window="all windows", status="")
        self._show_overall()

    def _show_overall(self) -> None:
        if self._overall is not None:
            done = len(self._done)
            self._progress.update(
                self._overall, completed=done, total=self._planned, status=self.summary
            )

    def _task(self, window: Window) -> TaskID:
        if window not in self._tasks:
            label = f"{window.start:%Y-%m-%d %H:%M} → {window.end:%Y-%m-%d %H:%M}"
            self._tasks[window] = self._progress.add_task(
                "", total=None, window=label, status="", bytes=True
            )
            self._started[window] = self._clock()
        return self._tasks[window]

    def _status(self, event: ProgressEvent) -> str:
        waited = self._clock() - self._started[event.window]
        if event.kind == "polled":
            return f"{event.detail.get('status', '?')} {waited:.0f}s"
        if event.kind == "rows":
            counts = self._rows.setdefault(event.window, {})
            counts[event.detail["table"]] = event.detail["rows"]
            return f"loaded {sum(counts.values()):,} rows"
        if event.kind == "split":
            return "split in halves"
        return str(event.kind)
