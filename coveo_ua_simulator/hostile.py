"""Hostile answers and archives: what a broken proxy, storage host or export may send.

HTTP faults (see faults.py): "401" (the service, or the storage host refusing a link),
"echo" (a 200 HTML page quoting the request's headers, token included, as some proxies
do), "bad_redirect" (a redirect to a ``file:`` or ``ftp:`` location, option ``scheme``)
and "redirect_loop" (a redirect to the same URL).

Archive rewrites (the "rewrite" download fault, option ``change``), applied to one
download's copy of the zip, for ``table`` (default searches), EXCEL exports only:

- "duplicate_header": the last header cell names the identifier column again;
- "dlt_columns": columns ``_dlt_id`` and ``_dlt_load_id`` (values ``v1``, ``v3``) added;
- "duplicate_member": the table's member stored twice under the same name; with option
  ``differ`` the second copy lacks the last record;
- "backslash_names": every member renamed ``data\\<name>``;
- "drop_member": the table's member left out;
- "long_row": a record added (identifier ``long-row``) whose first text column holds
  ``bytes`` random hex digits (default 17 MiB);
- "invalid_utf8": a 0xFF byte appended to the first record's first free-text column, to
  the second record's identifier and to the third record's datetime.
"""

from __future__ import annotations

import csv
import io
import os
import random
import warnings
import zipfile
from collections.abc import Callable
from urllib.parse import urlencode

from coveo_ua_simulator.replies import Reply, SimRequest, error_reply, xml_error
from coveo_ua_source.schema import IDENTIFIERS, TTable, column_by_header

REWRITES = (
    "duplicate_header", "dlt_columns", "duplicate_member", "backslash_names",
    "drop_member", "long_row", "invalid_utf8",
)  # fmt: skip
BAD_BYTE = "\udcff"  # 0xFF once encoded with surrogateescape: never valid UTF-8
_BOM = "\ufeff"
Rows = list[list[str]]


def hostile_reply(kind: str, req: SimRequest, options: dict[str, object]) -> Reply:
    """The reply of a "401", "echo", "bad_redirect" or "redirect_loop" fault."""
    if kind == "401":
        if req.server == "storage":
            return xml_error(401, "AccessDenied", "Request has expired")
        return error_reply(401, "The access token is invalid.", "InvalidTokenException")
    if kind == "echo":
        headers = sorted(req.headers.items())
        lines = [f"{req.method} {req.path}", *(f"{k}: {v}" for k, v in headers)]
        page = "<html><body><h1>Proxy</h1><pre>" + "\n".join(lines) + "</pre></body></html>"
        return Reply(200, page.encode(), {"Content-Type": "text/html"})
    if kind == "bad_redirect":
        scheme = str(options.get("scheme", "file"))
        target = "file:///etc/passwd" if scheme == "file" else f"{scheme}://storage.invalid/x.zip"
        return Reply(302, headers={"Location": target})
    query = urlencode(req.query, doseq=True)
    return Reply(302, headers={"Location": req.path + (f"?{query}" if query else "")})


def rewrite_zip(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    change: str,
    table: TTable = "searches",
    **options: object,
) -> None:
    """Copy an export zip with one hostile change (see the module docstring)."""
    if change not in REWRITES:
        raise ValueError(f"unknown rewrite {change!r}; use one of {', '.join(REWRITES)}")
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as copy,
    ):
        for name in original.namelist():
            data = original.read(name)
            is_target = name.rsplit("/", 1)[-1].lower() == f"{table}.csv"
            if change == "backslash_names":
                copy.writestr(f"data\\{name}", data)
            elif not is_target:
                copy.writestr(name, data)
            elif change == "duplicate_member":
                copy.writestr(name, data)
                with warnings.catch_warnings():  # zipfile warns of the duplicate: the point
                    warnings.simplefilter("ignore", UserWarning)
                    copy.writestr(name, _drop_last(data) if options.get("differ") else data)
            elif change != "drop_member":
                copy.writestr(name, _rewrite_rows(data, table, change, options))


def _drop_last(data: bytes) -> bytes:
    text, bom = _decode(data)
    rows = list(csv.reader(io.StringIO(text)))
    return _encode(rows[:-1], bom)


def _rewrite_rows(data: bytes, table: TTable, change: str, options: dict[str, object]) -> bytes:
    text, bom = _decode(data)
    rows = list(csv.reader(io.StringIO(text)))
    _CHANGES[change](rows, table, options)
    return _encode(rows, bom)


def _decode(data: bytes) -> tuple[str, bool]:
    text = data.decode("utf-8")
    return text.removeprefix(_BOM), text.startswith(_BOM)


def _encode(rows: Rows, bom: bool) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return ((_BOM if bom else "") + buffer.getvalue()).encode("utf-8", "surrogateescape")


def _positions(header: list[str], table: TTable) -> dict[str, int]:
    """Where the identifier, the datetime and the first free-text column are."""
    lookup = column_by_header(table)
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = lookup.get(cell.strip().lower())
        if column is None:
            continue
        if column.api_name == IDENTIFIERS[table][0]:
            found.setdefault("identifier", index)
        elif column.type == "timestamp":
            found.setdefault("datetime", index)
        elif column.type == "text" and column.api_name not in IDENTIFIERS[table]:
            found.setdefault("text", index)
    return found


def _duplicate_header(rows: Rows, table: TTable, _options: dict[str, object]) -> None:
    rows[0][-1] = IDENTIFIERS[table][0]


def _dlt_columns(rows: Rows, _table: TTable, _options: dict[str, object]) -> None:
    rows[0] += ["_dlt_id", "_dlt_load_id"]
    for row in rows[1:]:
        row += ["v1", "v3"]


def _long_row(rows: Rows, table: TTable, options: dict[str, object]) -> None:
    where = _positions(rows[0], table)
    record = list(rows[1]) if len(rows) > 1 else [""] * len(rows[0])
    record[where["identifier"]] = "long-row"
    size = int(str(options.get("bytes", 17 << 20)))
    # random hex: it does not compress, so the zip-bomb guard does not refuse the member
    record[where["text"]] = random.Random(size).randbytes(size // 2 + 1).hex()[:size]
    rows.append(record)


def _invalid_utf8(rows: Rows, table: TTable, _options: dict[str, object]) -> None:
    where = _positions(rows[0], table)
    for row, column in zip(rows[1:4], ("text", "identifier", "datetime"), strict=False):
        row[where[column]] += BAD_BYTE


_CHANGES: dict[str, Callable[[Rows, TTable, dict[str, object]], None]] = {
    "duplicate_header": _duplicate_header,
    "dlt_columns": _dlt_columns,
    "long_row": _long_row,
    "invalid_utf8": _invalid_utf8,
}
