"""What the exports API takes and answers: parameters, times and the export object.

Pure functions and a dataclass, no I/O; ``client.py`` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args
from urllib.parse import quote, urlsplit

from coveo_ua_source.dates import format_utc
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.schema import API_TABLE_NAMES, TTable
from coveo_ua_source.settings import REGION_ROOTS

TExportStatus = Literal["PENDING", "AVAILABLE", "FAILED", "EXPIRED"]
TParams = list[tuple[str, str]]
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class ExportInfo:
    """One export as the API describes it; ``end`` is exclusive (the API's ``to`` + 1 ms)."""

    id: str
    status: TExportStatus
    start: datetime | None
    end: datetime | None
    tables: tuple[str, ...]
    description: str | None
    size: int | None
    download_link: str | None = field(repr=False)  # pre-signed: keep it out of logs
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ExportInfo:
        """Parse an export object; raises ValueError/TypeError/KeyError when malformed."""
        status = str(data["status"]).upper()
        if status not in get_args(TExportStatus):
            raise ValueError(f"unknown export status {status!r}")
        end = to_datetime(data.get("to"))
        tables = data.get("tables") or ()
        return cls(
            id=str(data["id"]),
            status=status,  # type: ignore[arg-type]  # checked against TExportStatus above
            start=to_datetime(data.get("from")),
            end=end + _MS if end is not None else None,
            tables=tuple(str(t).lower() for t in as_list(tables)),
            description=data.get("description"),
            size=int(data["size"]) if data.get("size") is not None else None,
            download_link=data.get("downloadLink") or None,
            raw=dict(data),
        )


def api_root(base_url: str | None, region: str) -> str:
    if base_url is not None:
        root = base_url.rstrip("/")
        if urlsplit(root).scheme.lower() not in ("http", "https"):
            raise ConfigurationError(
                f"base_url must be an absolute http:// or https:// URL ending with /rest/ua, "
                f"got {base_url!r}"
            )
        parts = urlsplit(root)
        if parts.username is not None or parts.password is not None:
            raise ConfigurationError(
                "base_url must not carry credentials (user:password@host): give the token "
                "as access_token (SOURCES__COVEO_UA__ACCESS_TOKEN) and base_url without them"
            )
        if not root.endswith("/rest/ua") or not parts.netloc:
            raise ConfigurationError(
                f"base_url must be an absolute URL ending with /rest/ua, got {base_url!r}"
            )
        return root
    if region.lower() not in REGION_ROOTS:
        raise ConfigurationError(
            f"unknown region {region!r}: use one of {', '.join(REGION_ROOTS)} or set base_url"
        )
    return REGION_ROOTS[region.lower()]


def export_path(export_id: str) -> str:
    if not export_id or not export_id.strip():
        raise ConfigurationError("export_id is empty")
    return f"/v15/exports/{quote(export_id, safe='')}"


def window_params(
    start: datetime,
    end: datetime,
    tables: Sequence[TTable] | None,
    filters: Mapping[str, Sequence[str]],
) -> TParams:
    """``from``/``to`` (inclusive) of the half-open ``[start, end)``, tables, then filters."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ConfigurationError(f"start and end must be timezone-aware: {start!r}, {end!r}")
    if start >= end:
        raise ConfigurationError(f"empty window: {start.isoformat()} >= {end.isoformat()}")
    if tables is not None and not tables:
        raise ConfigurationError("tables is empty: pass None to export every table")
    params = [("from", format_utc(ceil_ms(start))), ("to", format_utc(ceil_ms(end) - _MS))]
    params += [("tables", api_table(table)) for table in tables or ()]
    return params + [(name, value) for name, values in filters.items() for value in values]


def filter_params(
    common: Sequence[str], searches: Sequence[str], custom_events: Sequence[str]
) -> dict[str, Sequence[str]]:
    """The filter parameters: on all events, on searches and clicks, on custom events."""
    return {"f": common, "fs": searches, "fc": custom_events}


def api_table(table: str) -> str:
    try:
        return API_TABLE_NAMES[table.lower()]  # type: ignore[index]
    except KeyError:
        raise ConfigurationError(
            f"unknown table {table!r}: use some of {', '.join(API_TABLE_NAMES)}"
        ) from None


def ceil_ms(moment: datetime) -> datetime:
    extra = moment.microsecond % 1000
    return moment + timedelta(microseconds=1000 - extra) if extra else moment


def to_datetime(value: Any) -> datetime | None:
    """An API time (epoch milliseconds, or an ISO 8601 string) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(value))


def as_list(data: Any, key: str | None = None) -> list[Any]:
    """A JSON array, or the array under ``key`` of an object."""
    if isinstance(data, dict) and key is not None:
        data = data.get(key)
    if isinstance(data, list | tuple):
        return list(data)
    raise TypeError(f"expected a list, got {type(data).__name__}")
