"""A stub of ``CoveoClient`` that keeps the org's exports in memory: no server, no HTTP.

It answers the calls the export lifecycle makes (create, get, download, list, delete,
estimate, row limit) the way the exports API does, and records them so that a unit test
can say what was asked. Faults are queued per create: ``fail`` (the export ends FAILED),
``row_limit`` (the create is refused with a 400 naming the row limit), ``expire`` (the
export EXPIRED before its download), ``corrupt`` (the first download is not a zip).
"""

from __future__ import annotations

import gc
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from coveo_ua_source.api.models import ExportInfo
from coveo_ua_source.dates import Window
from coveo_ua_source.exceptions import (
    CoveoAPIError,
    CoveoBadRequestError,
    CoveoNotFoundError,
)
from coveo_ua_source.schema import TABLES

API_ROOT = "https://stub.example/rest/ua"


def export_info(
    export_id: str,
    description: str | None,
    status: str = "AVAILABLE",
    window: Window | None = None,
    tables: Sequence[str] = (),
) -> ExportInfo:
    """An export as the API lists it."""
    return ExportInfo(
        id=export_id,
        status=status,  # type: ignore[arg-type]
        start=window.start if window else None,
        end=window.end if window else None,
        tables=tuple(tables),
        description=description,
        size=None,
        download_link=None,
        raw={},
    )


@dataclass
class Created:
    """One create call: the window, the tables, the description and the other parameters."""

    window: Window
    tables: tuple[str, ...]
    description: str | None
    export_id: str
    params: dict[str, Any]


class StubClient:
    """The org's exports in memory; thread-safe like the runner needs."""

    def __init__(
        self,
        exports: Sequence[ExportInfo] = (),
        *,
        listing_fails: bool = False,
        pending_polls: int = 0,
        row_limit: int = 1_000_000,
        rows_per_hour: Callable[[str], int] = lambda _table: 0,
    ) -> None:
        self.api_root = API_ROOT
        self.exports = {info.id: info for info in exports}
        self.listing_fails = listing_fails
        self.pending_polls = pending_polls  # polls an export stays PENDING (-1: forever)
        self.limit = row_limit
        self.rows_per_hour = rows_per_hour
        self.faults: deque[str] = deque()
        self.created: list[Created] = []
        self.deleted: list[str] = []
        self.estimated: list[Window] = []
        self.listings = 0
        self.row_limit_asked = 0
        self.calls: list[str] = []  # "create", "delete"... in the order they came
        self.downloads = 0
        self._polls: dict[str, int] = {}
        self.fault_of: dict[str, str] = {}  # by export id; set one for a listed export
        self._lock = threading.Lock()

    def inject(self, fault: str, count: int = 1) -> None:
        """The next ``count`` creates get ``fault`` ("answer_previous": the create answers
        with the export created before, as a lying service would)."""
        self.faults.extend([fault] * count)

    def create_export(
        self, start: datetime, end: datetime, *, tables: Sequence[str], **params: Any
    ) -> ExportInfo:
        with self._lock:
            self.calls.append("create")
            fault = self.faults.popleft() if self.faults else ""
            if fault == "answer_previous":  # a lying service: the previous export again
                return self.exports[self.created[-1].export_id]
            if fault == "row_limit":
                raise CoveoBadRequestError(
                    400, "POST", "/v15/exports", "The export exceeds the row limit of the org"
                )
            export_id = f"export-{len(self.created) + 1}"
            window = Window(start, end)
            description = params.get("description")
            created = Created(window, tuple(tables), description, export_id, params)
            self.created.append(created)
            info = export_info(export_id, description, "PENDING", window, tables)
            self.exports[export_id] = info
            self._polls[export_id] = 0
            self.fault_of[export_id] = fault
            return info

    def get_export(self, export_id: str) -> ExportInfo:
        with self._lock:
            if self.fault_of.get(export_id) == "vanish":  # another run deleted it
                self.exports.pop(export_id, None)
            info = self._known(export_id, "GET")
            if info.status == "PENDING":
                self._polls[export_id] = polls = self._polls.get(export_id, 0) + 1
                if self.pending_polls < 0 or polls <= self.pending_polls:
                    return info
                fault = self.fault_of.get(export_id, "")
                info = replace(info, status="FAILED" if fault == "fail" else "AVAILABLE")
            elif self.fault_of.get(export_id) == "expire":
                info = replace(info, status="EXPIRED")
            self.exports[export_id] = info
            return info

    def download_export(self, export_id: str, destination: Path, **_: Any) -> int:
        with self._lock:
            info = self._known(export_id, "GET")
            self.downloads += 1
            fault = self.fault_of.get(export_id, "")
            if fault == "expire":
                raise CoveoNotFoundError(404, "GET", "https://storage.example/export.zip")
            if fault == "corrupt":
                self.fault_of[export_id] = ""
                destination.write_bytes(b"this is not a zip")
                return destination.stat().st_size
        write_zip(destination, info.tables)
        return destination.stat().st_size

    def list_exports(self) -> list[ExportInfo]:
        with self._lock:
            self.listings += 1
            if self.listing_fails:
                raise CoveoAPIError(503, "GET", "/v15/exports", "unavailable")
            return list(self.exports.values())

    def delete_export(self, export_id: str) -> None:
        with self._lock:
            self.calls.append("delete")
            if self.exports.pop(export_id, None) is None:
                raise CoveoNotFoundError(404, "DELETE", f"/v15/exports/{export_id}")
            self.deleted.append(export_id)

    def row_limit(self) -> int:
        self.row_limit_asked += 1
        return self.limit

    def service_now(self) -> datetime | None:
        """The stub sends no Date header: the worker's clock is the present."""
        return None

    def estimate(
        self, start: datetime, end: datetime, *, tables: Sequence[str], **_: Any
    ) -> dict[str, int]:
        """``rows_per_hour`` of each table times the window's hours, for every table (not
        only those asked: a caller must pick its own)."""
        with self._lock:
            self.estimated.append(Window(start, end))
        hours = (end - start).total_seconds() / 3600
        return {table: int(self.rows_per_hour(table) * hours) for table in TABLES}

    def _known(self, export_id: str, method: str) -> ExportInfo:
        info = self.exports.get(export_id)
        if info is None:
            raise CoveoNotFoundError(404, method, f"/v15/exports/{export_id}")
        return info


def write_zip(path: Path, tables: Sequence[str]) -> None:
    """A zip with one small CSV per table, as an export of those tables holds."""
    with zipfile.ZipFile(path, "w") as archive:
        for table in tables:
            archive.writestr(f"{table}.csv", "id\n1\n")


class HeldDownloads(StubClient):
    """A StubClient whose downloads of windows from ``held_from`` on wait until ``release()``."""

    def __init__(self, *args: Any, held_from: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held_from = held_from
        self.holding = threading.Event()  # set once a download waits
        self._released = threading.Event()

    def download_export(self, export_id: str, destination: Path, **kwargs: Any) -> int:
        with self._lock:
            start = self._known(export_id, "GET").start
        if start is not None and start >= self.held_from:
            self.holding.set()
            self._released.wait(HELD_SECONDS)
        return super().download_export(export_id, destination, **kwargs)

    def release(self) -> None:
        self._released.set()


HELD_SECONDS = 120.0  # longer than any test waits for what a held download must not stop


def collected_without_waiting(dropped: list[Any], timeout: float = 60.0) -> bool:
    """Leave what ``dropped`` holds to the garbage collector alone, as a dlt source left
    half-read is (in a reference cycle, ``dropped`` emptied), and run one collection in a
    thread of its own; False if it was still running after ``timeout`` seconds (a
    finalizer waiting for something the test holds). Automatic collection is off until
    then, so that this collection is the one that frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        cycle: dict[str, Any] = {"dropped": list(dropped)}
        cycle["cycle"] = cycle
        dropped.clear()
        del cycle
        collector = threading.Thread(target=gc.collect, name="collector", daemon=True)
        collector.start()
        collector.join(timeout)
        return not collector.is_alive()
    finally:
        if enabled:
            gc.enable()
