"""Parsing and validating the parameters of create and estimate calls.

``from``/``to`` are ``YYYY-MM-DDThh:mm:ss.sssZ``, or the same without milliseconds; ``to`` is
inclusive at the millisecond, and a ``to`` without milliseconds means the last millisecond
of that second. The JSON body of ``POST /v15/exports/create`` may also give epoch ms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coveo_ua_simulator.filters import ExportFilters, FilterError
from coveo_ua_simulator.selection import resolve_dimensions, resolve_tables
from coveo_ua_simulator.truth import to_ms
from coveo_ua_source.schema import TExportFormat, TTable

_MAX_RANGE_MS = 365 * 24 * 3_600_000
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{3})?Z$")
_FORMATS: tuple[TExportFormat, ...] = ("EXCEL", "NO_NEWLINE")


class ParamError(ValueError):
    """A parameter the service rejects with 400 INVALID_PARAMETER."""


@dataclass(frozen=True)
class ExportRequest:
    """A validated create or estimate request.

    end_ms is inclusive (the last millisecond exported).
    """

    start_ms: int
    end_ms: int
    tables: tuple[TTable, ...]
    filters: ExportFilters
    dimensions: tuple[str, ...] = ()
    export_format: TExportFormat = "EXCEL"
    use_display_names: bool = False
    filename: str | None = None
    description: str | None = None

    @property
    def span(self) -> tuple[int, int]:
        """The half-open epoch-ms span ``[start_ms, end_ms + 1)``."""
        return self.start_ms, self.end_ms + 1


def parse_stamp(name: str, value: object, *, inclusive_end: bool = False) -> int:
    """A from/to value -> epoch ms; raises ParamError."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _STAMP.match(value) if isinstance(value, str) else None
    if match is None:
        raise ParamError(
            f"Invalid '{name}' value {value!r}: use the ISO 8601 format YYYY-MM-DDThh:mm:ss.sssZ."
        )
    try:
        moment = datetime.fromisoformat(match.group(1) + "+00:00")
    except ValueError as exc:
        raise ParamError(f"Invalid '{name}' date {value!r}: {exc}.") from None
    ms = to_ms(moment)
    if match.group(2):
        return ms + int(match.group(2)[1:])
    return ms + 999 if inclusive_end else ms


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ParamError(f"Invalid '{name}' value {value!r}: use true or false.")


def _strings(value: object, name: str, *, split: bool = True) -> list[str]:
    """A repeated parameter's values; table and dimension lists may also be comma-separated."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise ParamError(f"Invalid '{name}': expected strings.")
    parts = [p for item in items for p in (str(item).split(",") if split else [str(item)])]
    return [part for part in parts if part.strip()]


def _format(value: object) -> TExportFormat:
    wanted = str(value or "EXCEL").upper()
    for known in _FORMATS:
        if known == wanted:
            return known
    raise ParamError(f"Invalid format {value!r}: use EXCEL or NO_NEWLINE.")


def _ascii_name(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not text.isascii() or not text.isprintable():
        raise ParamError(f"Invalid filename {text!r}: only printable US-ASCII is allowed.")
    return text


def _request(fields: dict[str, Any], *, check_range: bool = True) -> ExportRequest:
    if fields.get("from") is None or fields.get("to") is None:
        raise ParamError("The 'from' and 'to' parameters are required.")
    start = parse_stamp("from", fields["from"])
    end = parse_stamp("to", fields["to"], inclusive_end=True)
    if start > end:
        raise ParamError("'from' must be before 'to'.")
    if check_range and end - start + 1 > _MAX_RANGE_MS:
        raise ParamError("The date range cannot exceed 365 days.")
    names = _strings(fields.get("tables"), "tables")
    dimensions = _strings(fields.get("dimensions"), "dimensions")
    try:
        tables = resolve_tables(names)
        resolve_dimensions(dimensions)
        filters = ExportFilters.parse(
            *(_strings(fields.get(key), key, split=False) for key in ("f", "fs", "fc"))
        )
    except (ValueError, FilterError) as exc:
        raise ParamError(str(exc)) from None
    return ExportRequest(
        start, end, tables, filters, tuple(dimensions), _format(fields.get("format")),
        _flag("useDisplayNames", fields.get("useDisplayNames", False)),
        _ascii_name(fields.get("filename")), _opt_str(fields.get("d")),
    )  # fmt: skip


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def from_query(query: dict[str, list[str]], *, check_range: bool = True) -> ExportRequest:
    """Parameters of ``POST /v15/exports`` or ``GET /v15/exports/estimate``."""
    fields: dict[str, Any] = {
        key: query.get(key) for key in ("tables", "dimensions", "f", "fs", "fc")
    }
    for key in ("from", "to", "format", "useDisplayNames", "filename", "d"):
        fields[key] = _single(query, key)
    return _request({k: v for k, v in fields.items() if v is not None}, check_range=check_range)


_JSON_KEYS: Sequence[tuple[str, str]] = (
    ("from", "from"), ("to", "to"), ("tables", "tables"), ("dimensions", "dimensions"),
    ("commonFilters", "f"), ("searchesFilters", "fs"), ("customEventsFilters", "fc"),
    ("exportFormat", "format"), ("useDisplayNames", "useDisplayNames"),
    ("filename", "filename"), ("description", "d"),
)  # fmt: skip


def from_json(body: bytes) -> ExportRequest:
    """The JSON body of ``POST /v15/exports/create``."""
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ParamError("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ParamError("The request body must be a JSON object.")
    return _request({ours: data[theirs] for theirs, ours in _JSON_KEYS if theirs in data})
