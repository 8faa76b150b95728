"""A terminal progress display for `coveo-ua load`, fed by the runner's progress events.

One line per export window: its status and time waited while the service builds it, a
byte bar while it downloads, and the rows read per table once loaded. Events arrive from
the runner's worker threads; rich's Progress is safe to update from several threads.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from coveo_ua_source.exporter import ProgressEvent
from coveo_ua_source.windows import Window


class LoadProgress:
    """Use as a context manager; pass the instance as the source's ``progress``."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.fields[window]}"),
            TextColumn("{task.fields[status]:<28}"),
            BarColumn(bar_width=24),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[Window, TaskID] = {}
        self._started: dict[Window, float] = {}
        self._rows: dict[Window, dict[str, int]] = {}
        self._tables: dict[Window, int] = {}
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

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            task = self._task(event.window)
            self._progress.update(task, status=self._status(event))
            if event.kind == "downloading":
                total = event.detail.get("total")
                self._progress.update(task, completed=event.detail["bytes"], total=total)
            if event.kind == "ready":
                self._tables[event.window] = len(event.detail.get("tables", ()))
            if len(self._rows.get(event.window, {})) == self._tables.get(event.window, -1):
                self._progress.stop_task(task)  # every table has read it: stop its clock

    def _task(self, window: Window) -> TaskID:
        if window not in self._tasks:
            label = f"{window.start:%Y-%m-%d %H:%M} → {window.end:%Y-%m-%d %H:%M}"
            self._tasks[window] = self._progress.add_task("", total=None, window=label, status="")
            self._started[window] = time.monotonic()
        return self._tasks[window]

    def _status(self, event: ProgressEvent) -> str:
        waited = time.monotonic() - self._started[event.window]
        if event.kind == "polled":
            return f"{event.detail.get('status', '?')} {waited:.0f}s"
        if event.kind == "rows":
            counts = self._rows.setdefault(event.window, {})
            counts[event.detail["table"]] = event.detail["rows"]
            return f"loaded {sum(counts.values()):,} rows"
        if event.kind == "split":
            return "split in halves"
        return str(event.kind)
