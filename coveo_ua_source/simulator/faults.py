"""Injected faults: queued with ``Simulator.inject`` and consumed in order.

Each fault has a count and optional filters (``path`` regex searched in the request path,
``method``, ``server`` "api" or "storage"). Kinds, and where they are consumed:

- on any matching request, before authentication: "429" (option ``retry_after`` seconds,
  default 1), "500"/"502"/"503" (option ``body`` "json" (default) or "empty"), "html" (a
  403 WAF page in HTML), "drop" (the connection closes without a response);
- when an export is created: "fail" (it ends FAILED instead of AVAILABLE), "expire" (it
  becomes EXPIRED at its first download request, which the storage answers 404), "slow"
  (option ``seconds``, default 1: extra build delay), "row_limit" (the create answers the
  row-limit 400 whatever the size);
- when the storage serves a download: "corrupt_zip" (bytes that are not a zip),
  "truncate" (the full Content-Length, then the connection closes after half the bytes).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal, get_args

from coveo_ua_source.simulator.replies import Reply, TServer, error_reply, json_reply

TFaultKind = Literal[
    "429", "500", "502", "503", "html", "drop",
    "fail", "expire", "slow", "row_limit", "corrupt_zip", "truncate",
]  # fmt: skip
FAULT_KINDS: tuple[TFaultKind, ...] = get_args(TFaultKind)
HTTP_FAULTS: frozenset[TFaultKind] = frozenset({"429", "500", "502", "503", "html", "drop"})
CREATE_FAULTS: frozenset[TFaultKind] = frozenset({"fail", "expire", "slow", "row_limit"})
DOWNLOAD_FAULTS: frozenset[TFaultKind] = frozenset({"corrupt_zip", "truncate"})

_OPTIONS: dict[str, frozenset[str]] = {
    "429": frozenset({"retry_after"}),
    "500": frozenset({"body"}),
    "502": frozenset({"body"}),
    "503": frozenset({"body"}),
    "slow": frozenset({"seconds"}),
}
_WAF_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>"
    b"<h1>403 Forbidden</h1><p>Request blocked by the web application firewall.</p>"
    b"</body></html>\n"
)


@dataclass
class Fault:
    """One queued fault and what it still applies to."""

    kind: TFaultKind
    remaining: int
    path: re.Pattern[str] | None = None
    method: str | None = None
    server: TServer | None = None
    options: dict[str, object] = field(default_factory=dict)

    def matches(self, server: TServer, method: str, path: str) -> bool:
        """Whether a request is subject to this fault."""
        return (
            (self.server is None or self.server == server)
            and (self.method is None or self.method == method.upper())
            and (self.path is None or self.path.search(path) is not None)
        )


class FaultQueue:
    """Thread-safe queue of faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        server: TServer | None = None,
        **options: object,
    ) -> None:
        """Queue a fault; raises ValueError for an unknown kind, option or count."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault {kind!r}; use one of {', '.join(FAULT_KINDS)}.")
        unknown = set(options) - _OPTIONS.get(kind, frozenset())
        if unknown or count < 1:
            raise ValueError(f"Bad fault arguments for {kind!r}: count={count}, {options}.")
        pattern = re.compile(path) if path is not None else None
        fault = Fault(kind, count, pattern, method.upper() if method else None, server, options)
        with self._lock:
            self._faults.append(fault)

    def take(self, kinds: Collection[str], server: TServer, method: str, path: str) -> Fault | None:
        """Consume one use of the first queued fault of these kinds matching the request."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(server, method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        """The faults still queued."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._faults.clear()


def http_fault_reply(fault: Fault) -> Reply:
    """The reply of an HTTP-level fault ("429", "5xx", "html", "drop")."""
    if fault.kind == "drop":
        return Reply(0, drop=True)
    if fault.kind == "html":
        return Reply(403, _WAF_PAGE, {"Content-Type": "text/html; charset=utf-8"})
    if fault.kind == "429":
        seconds = fault.options.get("retry_after", 1)
        reply = error_reply(429, "Too many requests.", "TooManyRequestsException")
        reply.headers["Retry-After"] = str(seconds)
        return reply
    status = int(fault.kind)
    if fault.options.get("body", "json") == "empty":
        return Reply(status)
    return json_reply(status, {"message": f"Simulated HTTP {status}.", "type": "ServerError"})
