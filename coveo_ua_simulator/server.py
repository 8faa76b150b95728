"""The running simulator: an API server and a storage server on loopback, plus controls.

Both are ``http.server.ThreadingHTTPServer`` instances on daemon threads, speaking HTTP/1.1
with keep-alive. Every response carries ``X-Request-ID``. Nothing is logged, so the token
is never written anywhere; the request log keeps only whether an Authorization header was
present.
"""

from __future__ import annotations

import contextlib
import secrets
import selectors
import shutil
import socket
import socketserver
import tempfile
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from coveo_ua_simulator.api import API_PREFIX, ApiApp
from coveo_ua_simulator.config import SimulatorConfig
from coveo_ua_simulator.faults import Fault, FaultQueue
from coveo_ua_simulator.replies import Reply, SimRequest, TServer, error_reply
from coveo_ua_simulator.state import ExportStore, RequestRecord, SimExport
from coveo_ua_simulator.storage import Signer, StorageApp

_CHUNK = 1 << 20
App = Callable[[SimRequest], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    timeout = 1.0  # handle_request() waits no longer for a connection that went away

    def __init__(self, address: tuple[str, int], kind: TServer, owner: Simulator) -> None:
        super().__init__(address, _Handler)
        self.kind = kind
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._stopping = threading.Event()
        self._waker, self._wake = socket.socketpair()

    def serve_until_stopped(self) -> None:
        """``serve_forever`` that ``stop()`` wakes at once, not after a poll interval."""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._waker, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    for key, _events in selector.select():
                        if key.fileobj is self and not self._stopping.is_set():
                            self.handle_request()  # readable: accepts at once
        finally:
            self._waker.close()

    def stop(self, thread: threading.Thread) -> None:
        """End the serving ``thread``, close the socket and the kept-alive connections."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake.send(b"x")
        thread.join(timeout=5)
        self._wake.close()
        self.server_close()
        self.close_connections()

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the address (slow offline)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._open_lock:
            self._open.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the kept-alive connections too, so a stopped server answers nothing."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body
    # would wait for the client's delayed ACK on every response.
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections close after this many seconds
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: request lines and headers must never reach a log."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header: the service's present (its ``clock``), as Coveo's servers
        tell theirs, whatever the machine's clock says."""
        clock = self.server.owner.config.clock
        if timestamp is None and clock is not None:
            timestamp = clock().timestamp()
        return super().date_time_string(timestamp)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = SimRequest(
            self.server.kind, self.command, unquote(parts.path),
            parse_qs(parts.query, keep_blank_values=True), dict(self.headers.items()),
            self.rfile.read(length) if length else b"",
        )  # fmt: skip
        request_id = str(uuid.uuid4())
        try:
            reply = self.server.owner.app(self.server.kind)(request)
        except Exception:  # the simulator must answer, whatever went wrong inside
            reply = error_reply(500, "Internal simulator error.", "InternalServerError")
        address = self.server.server_address
        host = self.headers.get("Host") or f"{address[0]!s}:{address[1]}"
        self.server.owner.record(request, reply, request_id, host)
        try:
            self._send(reply, request_id)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _close(self) -> None:
        self.close_connection = True
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, reply: Reply, request_id: str) -> None:
        if reply.drop:
            self._close()
            return
        self.send_response(reply.status)
        self.send_header("X-Request-ID", request_id)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.file is not None:
            self._send_file(reply.file, reply.send_bytes)
            return
        if reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _send_file(self, path: Path, limit: int | None) -> None:
        size = path.stat().st_size
        self.send_header("Content-Length", str(size))
        self.end_headers()
        remaining = size if limit is None else limit
        with path.open("rb") as source:
            while remaining > 0:
                chunk = source.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        if limit is not None:
            self._close()


class Simulator:
    """The simulated Coveo UA exports service; use as a context manager or start()/stop().

    ``api_root`` is ``http://127.0.0.1:<port>/rest/ua``; downloads are served from
    ``storage_root`` (another loopback address, so clients treat it as another host).
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        api_port: int = 0,
        storage_port: int = 0,
        api_host: str = "127.0.0.1",
    ) -> None:
        self.config = config or SimulatorConfig()
        self._addresses = ((api_host, api_port), (self.config.storage_host, storage_port))
        self._faults = FaultQueue()
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._signer = Signer(secrets.token_bytes(32))
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._workdir: Path | None = None
        self._store: ExportStore | None = None
        self._apps: dict[TServer, App] = {}

    def start(self) -> Simulator:
        """Start both servers on their ports (0: a free one); returns self."""
        if self._servers:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="coveo-ua-sim-"))
        self._store = ExportStore(self.config, self._workdir)
        self._apps = {
            "api": ApiApp(self.config, self._store, self._faults, self.download_link),
            "storage": StorageApp(self._store, self._faults, self._signer),
        }
        kinds: tuple[TServer, TServer] = ("api", "storage")
        for address, kind in zip(self._addresses, kinds, strict=True):
            server = _Server(address, kind, self)
            thread = threading.Thread(target=server.serve_until_stopped, daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers and delete the built zips."""
        for server, thread in zip(self._servers, self._threads, strict=True):
            server.stop(thread)
        self._servers, self._threads = [], []
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _port(self, index: int) -> int:
        if not self._servers:
            raise RuntimeError("the simulator is not running: call start() first")
        return int(self._servers[index].server_address[1])

    @property
    def api_root(self) -> str:
        """``http://127.0.0.1:<port>/rest/ua``: the value to use as the API root."""
        return f"http://{self._addresses[0][0]}:{self._port(0)}{API_PREFIX}"

    @property
    def storage_root(self) -> str:
        """``http://127.0.0.2:<port>``: where download links point."""
        return f"http://{self._addresses[1][0]}:{self._port(1)}"

    def download_link(self, export_id: str) -> str:
        """The pre-signed storage URL of an export."""
        return f"{self.storage_root}/exports/{export_id}.zip?sig={self._signer.sign(export_id)}"

    def app(self, kind: TServer) -> App:
        """The request handler of one server."""
        return self._apps[kind]

    def inject(self, kind: str, count: int = 1, **options: Any) -> None:
        """Queue a fault (see ``faults.py``): e.g. ``inject("429", count=2, retry_after=1)``.

        Filters: ``path`` (regex searched in the request path), ``method``, ``server``
        ("api" or "storage"). Raises ValueError for an unknown kind or option.
        """
        self._faults.inject(kind, count, **options)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    def end_slow_builds(self) -> None:
        """Every export a "slow" fault holds is ready at its next poll (``build_delay`` and
        ``pending_polls`` still apply); faults still queued stay queued."""
        self._require_store().end_slow_builds()

    def pending_faults(self) -> list[Fault]:
        """The queued faults no request has met yet."""
        return self._faults.pending()

    def record(self, request: SimRequest, reply: Reply, request_id: str, host: str) -> None:
        """Log a request, with the Authorization value redacted."""
        headers = {
            name: "<redacted>" if name.lower() == "authorization" else value
            for name, value in request.headers.items()
        }
        entry = RequestRecord(
            request.server, host, request.method, request.path, request.query, headers,
            request.header("Authorization") is not None,
            None if reply.drop else reply.status, request_id,
        )  # fmt: skip
        with self._lock:
            self._records.append(entry)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far (a copy), oldest first."""
        with self._lock:
            return list(self._records)

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._records.clear()

    def _require_store(self) -> ExportStore:
        if self._store is None:
            raise RuntimeError("the simulator is not running: call start() first")
        return self._store

    @property
    def exports(self) -> dict[str, SimExport]:
        """Every export created, by id (deleted ones have ``deleted=True``)."""
        return self._require_store().snapshot()

    @property
    def created_count(self) -> int:
        """How many create calls succeeded."""
        return self._require_store().created_count
