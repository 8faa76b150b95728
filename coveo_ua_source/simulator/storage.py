"""The storage host: serves export zips at pre-signed URLs, like S3.

``GET /exports/<id>.zip?sig=<signature>``. Any request carrying an ``Authorization`` header
answers 400 (S3: "Only one auth mechanism allowed"); a bad signature 403; an unknown,
deleted or not AVAILABLE (e.g. EXPIRED) export 404. Errors are S3-style XML.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from coveo_ua_source.simulator.faults import DOWNLOAD_FAULTS, HTTP_FAULTS, FaultQueue
from coveo_ua_source.simulator.faults import http_fault_reply as fault_reply
from coveo_ua_source.simulator.replies import Reply, SimRequest, xml_error
from coveo_ua_source.simulator.state import ExportStore

_PATH = re.compile(r"/exports/(?P<id>[A-Za-z0-9-]+)\.zip")
_TWO_AUTHS = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
    "query string parameter or the Authorization header should be specified"
)
_NOT_A_ZIP = b"<html><body>This is not a zip archive.</body></html>\n"


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

    def __call__(self, req: SimRequest) -> Reply:
        fault = self._faults.take(HTTP_FAULTS, "storage", req.method, req.path)
        if fault is not None:
            return fault_reply(fault)
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
        fault = self._faults.take(DOWNLOAD_FAULTS, "storage", req.method, req.path)
        path = self._store.zip_for(export)
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
        return reply
