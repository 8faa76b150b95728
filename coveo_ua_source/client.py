"""HTTP client of the Coveo UA exports API (``/rest/ua/v15``), one method per endpoint.

Plain ``requests``, no dlt. This module builds parameters and parses answers; sending,
retrying, classifying failures and streaming downloads live in ``retry.py``.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import quote, urljoin, urlsplit

import requests

from coveo_ua_source.exceptions import ConfigurationError, CoveoAPIError, CoveoUAError
from coveo_ua_source.retry import (
    RetryPolicy,
    RetryState,
    TParams,
    TProgress,
    Transport,
    TTimeout,
    error_text,
    public_url,
)
from coveo_ua_source.schema import API_TABLE_NAMES, TExportFormat, TTable
from coveo_ua_source.settings import (
    HTTP_MAX_ATTEMPTS,
    HTTP_RETRY_BUDGET,
    HTTP_TIMEOUT,
    REGION_ROOTS,
)

TExportStatus = Literal["PENDING", "AVAILABLE", "FAILED", "EXPIRED"]
_MS = timedelta(milliseconds=1)


def _user_agent() -> str:
    try:
        return f"coveo-ua-source/{version('coveo-ua-source')}"
    except PackageNotFoundError:  # a source checkout: the package's own __version__
        package = import_module("coveo_ua_source")
        return f"coveo-ua-source/{getattr(package, '__version__', '0+unknown')}"


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
        end = _to_datetime(data.get("to"))
        tables = data.get("tables") or ()
        return cls(
            id=str(data["id"]),
            status=status,  # type: ignore[arg-type]  # checked against TExportStatus above
            start=_to_datetime(data.get("from")),
            end=end + _MS if end is not None else None,
            tables=tuple(str(t).lower() for t in _as_list(tables)),
            description=data.get("description"),
            size=int(data["size"]) if data.get("size") is not None else None,
            download_link=data.get("downloadLink") or None,
            raw=dict(data),
        )


class CoveoClient:
    """The UA exports API of one organization, with retries and safe downloads."""

    def __init__(
        self,
        access_token: str,
        *,
        org_id: str | None = None,
        base_url: str | None = None,
        region: str = "us",
        session: requests.Session | None = None,
        max_attempts: int = HTTP_MAX_ATTEMPTS,
        retry_budget: float = HTTP_RETRY_BUDGET,
        timeout: TTimeout = HTTP_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not access_token or not access_token.strip():
            raise ConfigurationError("access_token is empty: set an API key or OAuth token")
        if max_attempts < 1 or retry_budget < 0:
            raise ConfigurationError("max_attempts must be >= 1 and retry_budget >= 0")
        self.org_id = org_id or None
        self.api_root = _api_root(base_url, region)
        self._own_session = session is None
        policy = RetryPolicy(max_attempts, retry_budget, sleep, random)
        self._transport = Transport(
            session or requests.Session(), policy, timeout, access_token.strip(), _user_agent()
        )

    def __repr__(self) -> str:
        return f"CoveoClient(api_root={self.api_root!r}, org_id={self.org_id!r})"

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self._transport.session.close()

    # --- endpoints -----------------------------------------------------------------

    def create_export(
        self,
        start: datetime,
        end: datetime,
        *,
        tables: Sequence[TTable] | None = None,
        dimensions: Sequence[str] = (),
        filters: Sequence[str] = (),
        search_filters: Sequence[str] = (),
        custom_event_filters: Sequence[str] = (),
        export_format: TExportFormat = "EXCEL",
        use_display_names: bool = False,
        description: str | None = None,
        filename: str | None = None,
    ) -> ExportInfo:
        """Start an export of ``[start, end)``; ``POST /v15/exports``, all in the query."""
        if export_format not in get_args(TExportFormat):
            raise ConfigurationError(f"export_format must be one of {get_args(TExportFormat)}")
        if filename is not None and not filename.isascii():
            raise ConfigurationError(f"filename must be US-ASCII: {filename!r}")
        params = _window_params(
            start, end, tables, _filters(filters, search_filters, custom_event_filters)
        )
        params += [("dimensions", d) for d in dimensions]
        params += [("format", export_format), ("useDisplayNames", str(use_display_names).lower())]
        params += [("d", description)] if description is not None else []
        params += [("filename", filename)] if filename is not None else []
        return self._export("POST", "/v15/exports", params)

    def get_export(self, export_id: str) -> ExportInfo:
        """The export's status, window and (once AVAILABLE) download link."""
        return self._export("GET", _export_path(export_id), [])

    def download_link(self, export_id: str) -> str | None:
        """The pre-signed link of a ready export, None while there is none."""
        data = self._json("GET", _export_path(export_id) + "/downloadlink")
        link = data.get("downloadLink") if isinstance(data, dict) else None
        return str(link) if link else None

    def delete_export(self, export_id: str) -> None:
        """Delete an export (204)."""
        self._call("DELETE", _export_path(export_id)).close()

    def list_exports(self) -> list[ExportInfo]:
        """Every export of the organization (the API does not paginate)."""
        path = "/v15/exports"
        items = _as_list(self._json("GET", path), key="exports")
        return [self._parse_export(item, "GET", path) for item in items]

    def estimate(
        self,
        start: datetime,
        end: datetime,
        *,
        tables: Sequence[TTable] | None = None,
        filters: Sequence[str] = (),
        search_filters: Sequence[str] = (),
        custom_event_filters: Sequence[str] = (),
    ) -> dict[TTable, int]:
        """Estimated rows per table for ``[start, end)``; tables the API names but we do
        not know (for example ``ALL_EVENTS``) are left out."""
        path = "/v15/exports/estimate"
        params = _window_params(
            start, end, tables, _filters(filters, search_filters, custom_event_filters)
        )
        data = self._json("GET", path, params)
        estimates = data.get("estimates") if isinstance(data, dict) else None
        if not isinstance(estimates, dict):
            raise _unexpected("GET", path, "no 'estimates' object in the response")
        return {
            name.lower(): int(count)
            for name, count in estimates.items()
            if name.lower() in API_TABLE_NAMES
        }

    def row_limit(self) -> int:
        """The organization's maximum number of rows in one export."""
        return int(self._field("/v15/exports/rowLimit", "exportRowCountLimit"))

    def service_status(self) -> str:
        """``online``, ``unavailable`` or ``degraded`` (as the service spells it)."""
        return str(self._field("/v15/exports/status", "status"))

    def exportable_dimensions(self) -> list[dict[str, Any]]:
        """The dimensions an export can contain (``displayName``, ``returnName``, ``type``...)."""
        data = self._json("GET", "/v15/dimensions/exportables")
        return [item for item in _as_list(data, key="dimensions") if isinstance(item, dict)]

    def download_export(
        self,
        export_id: str,
        destination: Path,
        *,
        on_progress: TProgress | None = None,
    ) -> int:
        """Download the export's zip to ``destination``; returns the bytes written.

        Each attempt asks the API for a fresh redirect (pre-signed links expire) and streams
        the storage URL without credentials. Broken or short bodies, storage 403 (an expired
        link), 429 and 5xx are retried within the retry policy; a storage 404 (the file is
        gone, the export EXPIRED) raises CoveoNotFoundError. On failure the file is removed.
        """
        path = _export_path(export_id)
        state = self._transport.start()
        try:
            while True:
                location = self._redirect_location(path, state)
                outcome = self._transport.fetch(location, destination, on_progress)
                if isinstance(outcome, int):
                    return outcome
                self._transport.settle(outcome, state, "GET", public_url(location), storage=True)
        except (CoveoUAError, OSError):
            destination.unlink(missing_ok=True)
            raise

    # --- plumbing ------------------------------------------------------------------

    def _export(self, method: str, path: str, params: TParams) -> ExportInfo:
        return self._parse_export(self._json(method, path, params), method, path)

    def _parse_export(self, data: Any, method: str, path: str) -> ExportInfo:
        try:
            return ExportInfo.from_api(data)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise _unexpected(method, path, f"not an export object ({exc!r})") from None

    def _field(self, path: str, key: str) -> Any:
        data = self._json("GET", path)
        if not isinstance(data, dict) or key not in data:
            raise _unexpected("GET", path, f"no {key!r} in the response")
        return data[key]

    def _json(self, method: str, path: str, params: TParams | None = None) -> Any:
        with self._call(method, path, params) as response:
            try:
                return response.json()
            except ValueError:
                excerpt = error_text(response.content, response.headers.get("Content-Type", ""))
                raise _unexpected(method, path, f"not JSON: {excerpt}") from None

    def _call(
        self,
        method: str,
        path: str,
        params: TParams | None = None,
        *,
        state: RetryState | None = None,
        follow: bool = True,
    ) -> requests.Response:
        """An API call: the ``org`` parameter added, retried per the policy."""
        query = [*(params or []), *([("org", self.org_id)] if self.org_id else [])]
        return self._transport.call(
            method, self.api_root + path, path, query, state=state, follow=follow
        )

    def _redirect_location(self, path: str, state: RetryState) -> str:
        """The storage URL the API redirects a download to (``?redirect=true`` -> 303)."""
        with self._call("GET", path, [("redirect", "true")], state=state, follow=False) as response:
            location = response.headers.get("Location")
            if not response.is_redirect or not location:
                raise CoveoAPIError(
                    response.status_code,
                    "GET",
                    path,
                    "expected a redirect to the export file; is the export AVAILABLE?",
                    response.headers.get("X-Request-ID"),
                )
            return urljoin(response.url, location)


def _api_root(base_url: str | None, region: str) -> str:
    if base_url is not None:
        root = base_url.rstrip("/")
        if not root.endswith("/rest/ua") or not urlsplit(root).netloc:
            raise ConfigurationError(
                f"base_url must be an absolute URL ending with /rest/ua, got {base_url!r}"
            )
        return root
    if region.lower() not in REGION_ROOTS:
        raise ConfigurationError(
            f"unknown region {region!r}: use one of {', '.join(REGION_ROOTS)} or set base_url"
        )
    return REGION_ROOTS[region.lower()]


def _export_path(export_id: str) -> str:
    if not export_id or not export_id.strip():
        raise ConfigurationError("export_id is empty")
    return f"/v15/exports/{quote(export_id, safe='')}"


def _window_params(
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
    params = [("from", _api_time(_ceil_ms(start))), ("to", _api_time(_ceil_ms(end) - _MS))]
    params += [("tables", _api_table(table)) for table in tables or ()]
    return params + [(name, value) for name, values in filters.items() for value in values]


def _filters(
    common: Sequence[str], searches: Sequence[str], custom_events: Sequence[str]
) -> dict[str, Sequence[str]]:
    """The filter parameters: on all events, on searches and clicks, on custom events."""
    return {"f": common, "fs": searches, "fc": custom_events}


def _api_table(table: str) -> str:
    try:
        return API_TABLE_NAMES[table.lower()]  # type: ignore[index]
    except KeyError:
        raise ConfigurationError(
            f"unknown table {table!r}: use some of {', '.join(API_TABLE_NAMES)}"
        ) from None


def _ceil_ms(moment: datetime) -> datetime:
    extra = moment.microsecond % 1000
    return moment + timedelta(microseconds=1000 - extra) if extra else moment


def _api_time(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _to_datetime(value: Any) -> datetime | None:
    """An API time (epoch milliseconds, or an ISO 8601 string) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(value))


def _as_list(data: Any, key: str | None = None) -> list[Any]:
    """A JSON array, or the array under ``key`` of an object."""
    if isinstance(data, dict) and key is not None:
        data = data.get(key)
    if isinstance(data, list | tuple):
        return list(data)
    raise TypeError(f"expected a list, got {type(data).__name__}")


def _unexpected(method: str, path: str, what: str) -> CoveoAPIError:
    return CoveoAPIError(200, method, path, f"unexpected response: {what}")
