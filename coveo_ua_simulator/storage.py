"""The storage host: serves export zips at pre-signed URLs, like S3.

``GET /exports/<id>.zip?sig=<signature>``. Any request carrying an ``Authorization`` header
answers 400 (S3: "Only one auth mechanism allowed"); a bad signature 403; an unknown,
deleted or not AVAILABLE (e.g. EXPIRED) export 404. Errors are S3-style XML.

Download faults: "corrupt_zip" and "truncate" change the body; "malformed" swaps the
export's zip for a copy with malformed lines, for this and every later download of that
export; "throttle" sends the body slowly (see ``_PacedPath``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import threading
import time
from pathlib import Path, PosixPath
from types import TracebackType
from typing import IO, Any, cast

from coveo_ua_simulator.faults import (
    HTTP_FAULTS,
    Fault,
    FaultQueue,
    write_malformed_copy,
)
from coveo_ua_simulator.faults import http_fault_reply as fault_reply
from coveo_ua_simulator.hostile import rewrite_zip
from coveo_ua_simulator.replies import Reply, SimRequest, xml_error
from coveo_ua_simulator.state import ExportStore, SimExport
from coveo_ua_source.schema import TTable

_PATH = re.compile(r"/exports/(?P<id>[A-Za-z0-9-]+)\.zip")
_TWO_AUTHS = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
    "query string parameter or the Authorization header should be specified"
)
_NOT_A_ZIP = b"<html><body>This is not a zip archive.</body></html>\n"
_BODY_FAULTS = frozenset({"corrupt_zip", "truncate"})
_THROTTLE_STEPS = 50  # a throttled body given in seconds is sent in at most this many pieces


class Signer:
    """Signs and checks download URLs with a per-simulator secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, export_id: str) -> str:
        """The ``sig`` parameter of an export's download URL."""
        return hmac.new(self._secret, export_id.encode(), hashlib.sha256).hexdigest()[:32]

    def check(self, export_id: str, signature: str) -> bool:
        """Whether a ``sig`` parameter is right for this export."""
        return hmac.compare_digest(self.sign(export_id), signature)


class StorageApp:
    """Answers storage requests."""

    def __init__(self, store: ExportStore, faults: FaultQueue, signer: Signer) -> None:
        self._store, self._faults, self._signer = store, faults, signer
        self._lock = threading.Lock()
        self._malformed: dict[str, Path] = {}  # export id -> its zip with malformed lines
        self._rewrites = 0

    def __call__(self, req: SimRequest) -> Reply:
        fault = self._faults.take(HTTP_FAULTS, "storage", req.method, req.path)
        if fault is not None:
            return fault_reply(fault, req)
        if req.header("Authorization") is not None:
            return xml_error(400, "InvalidArgument", _TWO_AUTHS)
        if req.method != "GET":
            return xml_error(405, "MethodNotAllowed", "The method is not allowed.")
        match = _PATH.fullmatch(req.path)
        if match is None:
            return xml_error(404, "NoSuchKey", "The specified key does not exist.")
        export_id = match.group("id")
        if not self._signer.check(export_id, req.param("sig") or ""):
            return xml_error(403, "SignatureDoesNotMatch", "The signature does not match.")
        return self._download(req, export_id)

    def _download(self, req: SimRequest, export_id: str) -> Reply:
        export = self._store.find(export_id)
        missing = xml_error(404, "NoSuchKey", "The specified key does not exist.")
        if export is None or not self._store.start_download(export):
            return missing
        fault = self._faults.take(_BODY_FAULTS, "storage", req.method, req.path)
        path = self._rewritten(req, export, self._zip_for(req, export))
        name = (export.request.filename or export_id).removesuffix(".zip").replace('"', "_")
        headers = {
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{name}.zip"',
        }
        if fault is not None and fault.kind == "corrupt_zip":
            return Reply(200, _NOT_A_ZIP * max(1, export.size // len(_NOT_A_ZIP)), headers)
        reply = Reply(200, headers=headers, file=path)
        if fault is not None:  # truncate
            reply.send_bytes = path.stat().st_size // 2
        throttle = self._faults.take({"throttle", "drip"}, "storage", req.method, req.path)
        if throttle is not None:
            reply.file = _PacedPath.slowing(path, throttle)
        return reply

    def _rewritten(self, req: SimRequest, export: SimExport, path: Path) -> Path:
        """``path``, or a copy with a hostile change when a "rewrite" fault applies."""
        fault = self._faults.take({"rewrite"}, "storage", req.method, req.path)
        if fault is None:
            return path
        with self._lock:
            self._rewrites += 1
            copy = path.with_name(f"{export.id}.rewrite-{self._rewrites}.zip")
        options = {k: v for k, v in fault.options.items() if k not in ("change", "table")}
        table = cast(TTable, fault.options.get("table", "searches"))
        rewrite_zip(path, copy, str(fault.options["change"]), table, **options)
        return copy

    def _zip_for(self, req: SimRequest, export: SimExport) -> Path:
        """The export's zip, or its malformed copy once a "malformed" fault chose it."""
        path = self._store.zip_for(export)
        with self._lock:
            spoiled = self._malformed.get(export.id)
            if spoiled is not None:
                return spoiled
            fault = self._faults.take({"malformed"}, "storage", req.method, req.path)
            if fault is None:
                return path
            spoiled = path.with_name(f"{export.id}.malformed.zip")
            write_malformed_copy(
                path, spoiled,
                table=cast(TTable, fault.options.get("table", "searches")),
                lines=int(str(fault.options.get("lines", 3))),
                nul_bytes=int(str(fault.options.get("nul_bytes", 0))),
            )  # fmt: skip
            self._malformed[export.id] = spoiled
            return spoiled


class _PacedPath(PosixPath):
    """A file whose ``open()`` reads it slowly: how "throttle" slows a download's body.

    The server streams ``Reply.file`` by reading what ``open("rb")`` returns, so pacing
    those reads paces the body, chunk by chunk, and a client can be stopped mid-body.
    """

    piece: int = 1 << 20
    delay: float = 0.0

    @classmethod
    def slowing(cls, path: Path, fault: Fault) -> _PacedPath:
        """``path`` sent at ``bytes_per_second``, or over ``seconds`` (default 5)."""
        paced = cls(path)
        rate = fault.options.get("bytes_per_second", 1 if fault.kind == "drip" else None)
        if fault.kind == "drip":
            paced.piece, paced.delay = 1, 1 / float(str(rate))
        elif rate is not None:
            paced.piece, paced.delay = max(1, math.ceil(float(str(rate)) / 10)), 0.1
        else:
            size = max(1, path.stat().st_size)
            steps = min(size, _THROTTLE_STEPS)
            paced.piece = math.ceil(size / steps)
            paced.delay = float(str(fault.options.get("seconds", 5.0))) / steps
        return paced

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return _PacedReader(super().open(*args, **kwargs), self.piece, self.delay)


class _PacedReader:
    """Reads at most ``piece`` bytes per call, each after a pause of ``delay`` seconds."""

    def __init__(self, raw: IO[bytes], piece: int, delay: float) -> None:
        self._raw, self._piece, self._delay = raw, piece, delay

    def read(self, size: int = -1) -> bytes:
        time.sleep(self._delay)
        return self._raw.read(self._piece if size < 0 else min(size, self._piece))

    def __enter__(self) -> _PacedReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._raw.close()
