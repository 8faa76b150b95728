"""The simulator's shared state: exports, their lifecycle and zips, and the request log.

Every mutation happens under one lock; building a zip holds only that export's own lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from coveo_ua_simulator.config import SimulatorConfig
from coveo_ua_simulator.csvwriter import write_export_zip
from coveo_ua_simulator.params import ExportRequest
from coveo_ua_simulator.replies import TServer
from coveo_ua_simulator.truth import from_ms, visible_span
from coveo_ua_source.schema import TTable

TExportStatus = Literal["PENDING", "AVAILABLE", "FAILED", "EXPIRED"]


@dataclass(frozen=True)
class RequestRecord:
    """One request the simulator received; the Authorization value is never kept."""

    server: TServer
    host: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    had_authorization: bool
    status: int | None  # None: the connection was dropped without a response
    request_id: str


@dataclass
class SimExport:
    """One created export. ``to_ms`` is inclusive (the last exported millisecond)."""

    id: str
    request: ExportRequest
    params: dict[str, Any]
    author: str
    created_at: float = field(default_factory=time.monotonic)
    start_date_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    status: TExportStatus = "PENDING"
    polls: int = 0
    deleted: bool = False
    fail: bool = False
    expire_on_download: bool = False
    extra_delay: float = 0.0
    leading_hours: float = 0.0  # the "wide" fault: the file starts this much too early
    download_requests: int = 0
    zip_path: Path | None = None
    size: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    visible_end_ms: int | None = None  # rows from here on did not exist at creation
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def from_ms(self) -> int:
        """Epoch ms of the first exported millisecond."""
        return self.request.start_ms

    @property
    def to_ms(self) -> int:
        """Epoch ms of the last exported millisecond (inclusive)."""
        return self.request.end_ms

    @property
    def start(self) -> datetime:
        """The window's start (UTC)."""
        return from_ms(self.request.start_ms)

    @property
    def end(self) -> datetime:
        """The window's exclusive end (UTC): to_ms + 1 ms."""
        return from_ms(self.request.end_ms + 1)

    @property
    def visible_end(self) -> datetime:
        """Where the exported rows end: the window's end, or the present at creation."""
        return self.end if self.visible_end_ms is None else from_ms(self.visible_end_ms)

    @property
    def tables(self) -> tuple[TTable, ...]:
        """The exported tables."""
        return self.request.tables

    @property
    def description(self) -> str | None:
        """The ``d`` / ``description`` parameter."""
        return self.request.description


class ExportStore:
    """Exports by id, their status transitions and their lazily built zips."""

    def __init__(self, cfg: SimulatorConfig, workdir: Path) -> None:
        self._cfg = cfg
        self._workdir = workdir
        self._lock = threading.Lock()
        self._exports: dict[str, SimExport] = {}
        self.created_count = 0

    def create(self, request: ExportRequest, params: dict[str, Any], **flags: Any) -> SimExport:
        """Register a new PENDING export; flags: fail, expire_on_download, extra_delay,
        leading_hours."""
        export = SimExport(str(uuid.uuid4()), request, params, "simulator@coveo-ua.invalid")
        export.fail = bool(flags.get("fail", False))
        export.expire_on_download = bool(flags.get("expire_on_download", False))
        export.extra_delay = float(flags.get("extra_delay", 0.0))
        export.leading_hours = float(flags.get("leading_hours", 0.0))
        export.visible_end_ms = visible_span(self._cfg, request.span)[1]
        with self._lock:
            self._exports[export.id] = export
            self.created_count += 1
        return export

    def latest(self) -> SimExport | None:
        """The export created last, deleted or not."""
        with self._lock:
            return next(reversed(self._exports.values()), None)

    def find(self, export_id: str) -> SimExport | None:
        """The export with this id, unless unknown or deleted."""
        with self._lock:
            export = self._exports.get(export_id)
        return None if export is None or export.deleted else export

    def poll(self, export: SimExport) -> TExportStatus:
        """Count a status read and move a PENDING export on when it is due."""
        with self._lock:
            if export.status == "PENDING":
                export.polls += 1
                waited = time.monotonic() - export.created_at
                due = self._cfg.build_delay + export.extra_delay
                if export.polls > self._cfg.pending_polls and waited >= due:
                    export.status = "FAILED" if export.fail else "AVAILABLE"
            return export.status

    def start_download(self, export: SimExport) -> bool:
        """Count a download request; False when the export expires now ("expire" fault)."""
        with self._lock:
            export.download_requests += 1
            if export.expire_on_download and export.status == "AVAILABLE":
                export.status = "EXPIRED"
                return False
            return export.status == "AVAILABLE"

    def delete(self, export_id: str) -> bool:
        """Delete an export; False when it is unknown or already deleted."""
        with self._lock:
            export = self._exports.get(export_id)
            if export is None or export.deleted:
                return False
            export.deleted = True
        if export.zip_path is not None:
            export.zip_path.unlink(missing_ok=True)
        return True

    def listing(self) -> list[SimExport]:
        """Every export not deleted, oldest first."""
        with self._lock:
            return [e for e in self._exports.values() if not e.deleted]

    def end_slow_builds(self) -> None:
        """Drop every export's extra build time (the "slow" fault's)."""
        with self._lock:
            for export in self._exports.values():
                export.extra_delay = 0.0

    def snapshot(self) -> dict[str, SimExport]:
        """Every export created, deleted ones included."""
        with self._lock:
            return dict(self._exports)

    def zip_for(self, export: SimExport) -> Path:
        """The export's zip, built on first use (concurrent callers wait for one build)."""
        with export.lock:
            if export.zip_path is None or not export.zip_path.exists():
                path = self._workdir / f"{export.id}.zip"
                partial = path.with_suffix(".partial")
                request = export.request
                rows = write_export_zip(
                    partial, self._cfg, export.start - timedelta(hours=export.leading_hours),
                    export.visible_end,
                    tables=request.tables, export_format=request.export_format,
                    use_display_names=request.use_display_names,
                    dimensions=request.dimensions, filters=request.filters,
                )  # fmt: skip
                partial.replace(path)
                with self._lock:
                    export.zip_path, export.size, export.rows = path, path.stat().st_size, rows
            return export.zip_path
