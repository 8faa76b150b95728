"""Injected faults: queued with ``Simulator.inject`` and consumed in order.

Each fault has a count and optional filters (``path`` regex searched in the request path,
``method``, ``server`` "api" or "storage"). Kinds, and where they are consumed:

- on any matching request, before authentication: "429" (option ``retry_after`` seconds,
  default 1), "500"/"502"/"503" (option ``body`` "json" (default) or "empty"), "html" (a
  403 WAF page in HTML), "drop" (the connection closes without a response);
- when an export is created: "fail" (it ends FAILED instead of AVAILABLE), "expire" (it
  becomes EXPIRED at its first download request, which the storage answers 404), "slow"
  (option ``seconds``, default 1: extra build delay), "row_limit" (the create answers the
  row-limit 400 whatever the size), "same_export" (the create answers with the export
  created before it, of another window, and creates nothing), "wide" (the export's file
  also holds the rows of the ``hours`` (default 1) before its window), "fail_window"
  (every export whose window overlaps ``[start, end)``, ISO strings, ends FAILED: a bad
  day on the service's side; give it a large count, ``clear_faults`` heals it);
- when the storage serves a download: "corrupt_zip" (bytes that are not a zip),
  "truncate" (the full Content-Length, then the connection closes after half the bytes),
  "throttle" (the body is sent slowly: option ``bytes_per_second``, or ``seconds``, the
  time the whole body takes, default 5), "malformed" (the export's zip gets malformed
  lines in one table's CSV; the export keeps that zip for later downloads, and the ground
  truth stays the good rows: see ``write_malformed_copy`` for the options
  ``table`` (default "searches"), ``lines`` (default 3) and ``nul_bytes`` (default 0)).
  "throttle" and "malformed" are taken apart from the others: a download can be both.
  "drip" sends the body at ``bytes_per_second`` (default 1), a stalled host;
  "rewrite" serves one download's copy of the zip with a hostile change (hostile.py).
- "401", "echo", "bad_redirect" (option ``scheme`` "file" or "ftp") and "redirect_loop"
  are HTTP-level faults too, described in hostile.py.
"""

from __future__ import annotations

import csv
import os
import re
import threading
import zipfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from coveo_ua_simulator.hostile import REWRITES, hostile_reply
from coveo_ua_simulator.replies import (
    Reply,
    SimRequest,
    TServer,
    error_reply,
    json_reply,
)
from coveo_ua_source.schema import IDENTIFIERS, TABLES, Column, TTable, column_by_header

TFaultKind = Literal[
    "429", "500", "502", "503", "html", "drop", "401", "echo", "bad_redirect", "redirect_loop",
    "fail", "expire", "slow", "row_limit", "corrupt_zip", "truncate", "throttle", "malformed",
    "drip", "rewrite", "same_export", "wide", "fail_window",
]  # fmt: skip
FAULT_KINDS: tuple[TFaultKind, ...] = get_args(TFaultKind)
HOSTILE_FAULTS: frozenset[TFaultKind] = frozenset({"401", "echo", "bad_redirect", "redirect_loop"})
HTTP_FAULTS: frozenset[TFaultKind] = frozenset(
    {"429", "500", "502", "503", "html", "drop", *HOSTILE_FAULTS}
)
CREATE_FAULTS: frozenset[TFaultKind] = frozenset(
    {"fail", "expire", "slow", "row_limit", "same_export", "wide", "fail_window"}
)
DOWNLOAD_FAULTS: frozenset[TFaultKind] = frozenset(
    {"corrupt_zip", "truncate", "throttle", "malformed", "drip", "rewrite"}
)

_OPTIONS: dict[str, frozenset[str]] = {
    "429": frozenset({"retry_after"}),
    "500": frozenset({"body"}),
    "502": frozenset({"body"}),
    "503": frozenset({"body"}),
    "slow": frozenset({"seconds"}),
    "throttle": frozenset({"seconds", "bytes_per_second"}),
    "malformed": frozenset({"table", "lines", "nul_bytes"}),
    "bad_redirect": frozenset({"scheme"}),
    "drip": frozenset({"bytes_per_second"}),
    "rewrite": frozenset({"change", "table", "differ", "bytes"}),
    "wide": frozenset({"hours"}),
    "fail_window": frozenset({"start", "end"}),
}


def _is_positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# Checks of option values, for the kinds whose values are not used as given.
_CHECKS: dict[str, dict[str, Callable[[object], bool]]] = {
    "throttle": {"seconds": _is_positive, "bytes_per_second": _is_positive},
    "malformed": {
        "table": lambda value: value in TABLES,
        "lines": _is_count,
        "nul_bytes": _is_count,
    },
    "bad_redirect": {"scheme": lambda value: value in ("file", "ftp")},
    "drip": {"bytes_per_second": _is_positive},
    "wide": {"hours": _is_positive},
    "fail_window": {
        "start": lambda value: isinstance(value, str),
        "end": lambda value: isinstance(value, str),
    },
    "rewrite": {
        "change": lambda value: value in REWRITES,
        "table": lambda value: value in TABLES,
        "bytes": _is_count,
    },
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
        missing = (kind == "rewrite" and "change" not in options) or (
            kind == "fail_window" and not {"start", "end"} <= set(options)
        )
        if unknown or missing or count < 1 or not _valid(kind, options):
            raise ValueError(f"Bad fault arguments for {kind!r}: count={count}, {options}.")
        pattern = re.compile(path) if path is not None else None
        fault = Fault(kind, count, pattern, method.upper() if method else None, server, options)
        with self._lock:
            self._faults.append(fault)

    def take(
        self,
        kinds: Collection[str],
        server: TServer,
        method: str,
        path: str,
        accept: Callable[[Fault], bool] = lambda _fault: True,
    ) -> Fault | None:
        """Consume one use of the first queued fault of these kinds matching the request
        (and ``accept``)."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(server, method, path) and accept(fault):
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


def _valid(kind: str, options: dict[str, object]) -> bool:
    """Whether the options' values pass the kind's checks."""
    checks = _CHECKS.get(kind, {})
    return all(checks[name](value) for name, value in options.items() if name in checks)


def http_fault_reply(fault: Fault, req: SimRequest) -> Reply:
    """The reply of an HTTP-level fault ("429", "5xx", "html", "drop", hostile ones)."""
    if fault.kind in HOSTILE_FAULTS:
        return hostile_reply(fault.kind, req, fault.options)
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


def write_malformed_copy(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    table: TTable = "searches",
    lines: int = 3,
    nul_bytes: int = 0,
) -> list[int]:
    """Copy an export zip, adding malformed lines and NUL bytes to ``table``'s first CSV.

    The malformed lines are, in turn: a record with one field too many; a record with
    ``not-a-number`` in its first number column (else another typed column); a record
    with empty identifiers. Each carries ``malformed-<n>`` (n from 1), so none equals a
    good row. The first goes right after the header, the others after the last record.
    ``nul_bytes``: that many lines after the header that start with a letter or digit get
    a NUL byte after it, which a reader must drop. Returns the line numbers (the header is
    line 1) of the malformed lines. A zip without that table's CSV, or whose CSV has no
    header, is copied unchanged. Members are held in memory: for test-sized exports.
    """
    pattern = re.compile(rf"^{re.escape(table)}(?:[_-]\d+)?\.csv$", re.IGNORECASE)
    numbers: list[int] = []
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as copy,
    ):
        names = original.namelist()
        target = next((n for n in sorted(names) if pattern.match(n.rsplit("/", 1)[-1])), None)
        for name in names:
            data = original.read(name)
            if name == target:
                data, numbers = _spoil(data, table, lines, nul_bytes)
            copy.writestr(name, data)
    return numbers


def _spoil(data: bytes, table: TTable, lines: int, nul_bytes: int) -> tuple[bytes, list[int]]:
    """A CSV member with malformed lines and NUL bytes added, and those lines' numbers."""
    head, newline, body = data.partition(b"\n")
    if not newline or not head.strip():
        return data, []
    (headers,) = csv.reader([head.decode("utf-8-sig")])
    if body and not body.endswith(b"\n"):
        body += b"\n"
    records = body.split(b"\n")
    starting = [index for index, record in enumerate(records) if record[:1].isalnum()]
    for index in starting[:nul_bytes]:
        records[index] = records[index][:1] + b"\0" + records[index][1:]
    bad = [(_malformed_line(n, headers, table) + "\n").encode() for n in range(1, lines + 1)]
    count = body.count(b"\n")  # lines 3 to count + 2 once the first bad line is in
    numbers = [2] + [count + 2 + n for n in range(1, lines)] if lines else []
    return head + newline + b"".join(bad[:1]) + b"\n".join(records) + b"".join(bad[1:]), numbers


def _malformed_line(number: int, headers: Sequence[str], table: TTable) -> str:
    """The ``number``-th malformed line (see write_malformed_copy) for these headers."""
    lookup = column_by_header(table)
    kinds = [_kind(lookup.get(header.strip().lower()), table) for header in headers]
    tag = f"malformed-{number}"
    typed = [i for i, kind in enumerate(kinds) if kind == "number"]
    typed += [i for i, kind in enumerate(kinds) if kind == "typed"]
    if number % 3 == 1 or (number % 3 == 2 and not typed):
        return ",".join([tag] * (len(headers) + 1))
    if number % 3 == 2:
        values = [tag if kind == "identifier" else "" for kind in kinds]
        values[typed[0]] = "not-a-number"
        return ",".join(values)
    texts = [index for index, kind in enumerate(kinds) if kind == "text"]
    return ",".join(tag if texts[:1] == [index] else "" for index in range(len(headers)))


def _kind(column: Column | None, table: TTable) -> str:
    """identifier, number, typed (timestamp or bool) or text (unknown columns too)."""
    if column is not None and column.api_name in IDENTIFIERS[table]:
        return "identifier"
    if column is None or column.type == "text":
        return "text"
    return "number" if column.type in ("bigint", "double") else "typed"
