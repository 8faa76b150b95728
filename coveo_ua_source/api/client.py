"""HTTP client of the Coveo UA exports API (``/rest/ua/v15``), one method per endpoint.

Plain ``requests``, no dlt. This module builds parameters and parses answers; sending,
retrying and classifying failures live in ``transport.py`` and ``errors.py``, streaming
downloads in ``storage.py``.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from coveo_ua_source.api.credentials import require_token
from coveo_ua_source.api.download import Clock, DownloadLimits, StallWatchdog
from coveo_ua_source.api.errors import Failure, error_text, public_url
from coveo_ua_source.api.models import (
    ExportInfo,
    TExportStatus,
    TParams,
    api_root,
    as_list,
    export_path,
    filter_params,
    window_params,
)
from coveo_ua_source.api.storage import TDownloadProgress, fetch
from coveo_ua_source.api.transport import RetryPolicy, RetryState, Transport, TTimeout
from coveo_ua_source.exceptions import (
    ConfigurationError,
    CoveoAPIError,
    CoveoUAError,
    DownloadStalledError,
)
from coveo_ua_source.schema import API_TABLE_NAMES, TExportFormat, TTable
from coveo_ua_source.settings import (
    DOWNLOAD_STALL_RETRIES,
    HTTP_MAX_ATTEMPTS,
    HTTP_RETRY_BUDGET,
    HTTP_TIMEOUT,
)


def _user_agent() -> str:
    try:
        return f"coveo-ua-source/{version('coveo-ua-source')}"
    except PackageNotFoundError:  # a source checkout: the package's own __version__
        package = import_module("coveo_ua_source")
        return f"coveo-ua-source/{getattr(package, '__version__', '0+unknown')}"


class CoveoClient:
    """The UA exports API of one organization, with retries and safe downloads."""

    def __init__(
        self,
        access_token: str | None,
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
        download_limits: DownloadLimits | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        access_token = require_token(access_token)  # never sent, nor quoted, if malformed
        if max_attempts < 1 or retry_budget < 0:
            raise ConfigurationError("max_attempts must be >= 1 and retry_budget >= 0")
        self.org_id = org_id or None
        self.api_root = api_root(base_url, region)
        self._own_session = session is None
        policy = RetryPolicy(max_attempts, retry_budget, sleep, random)
        self._transport = Transport(
            session or requests.Session(), policy, timeout, access_token, _user_agent(),
            download_limits or DownloadLimits(),
        )  # fmt: skip
        self._clock = clock
        self._row_limit: int | None = None

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
        if filename is not None and not filename.isascii():
            raise ConfigurationError(f"filename must be US-ASCII: {filename!r}")
        params = window_params(
            start, end, tables, filter_params(filters, search_filters, custom_event_filters)
        )
        params += [("dimensions", d) for d in dimensions]
        params += [("format", export_format), ("useDisplayNames", str(use_display_names).lower())]
        params += [("d", description)] if description is not None else []
        params += [("filename", filename)] if filename is not None else []
        return self._export("POST", "/v15/exports", params)

    def get_export(self, export_id: str) -> ExportInfo:
        """The export's status, window and (once AVAILABLE) download link."""
        return self._export("GET", export_path(export_id), [])

    def download_link(self, export_id: str) -> str | None:
        """The pre-signed link of a ready export, None while there is none."""
        data = self._json("GET", export_path(export_id) + "/downloadlink")
        link = data.get("downloadLink") if isinstance(data, dict) else None
        return str(link) if link else None

    def delete_export(self, export_id: str) -> None:
        """Delete an export (204)."""
        self._call("DELETE", export_path(export_id)).close()

    def list_exports(self) -> list[ExportInfo]:
        """Every export of the organization (the API does not paginate)."""
        path = "/v15/exports"
        items = as_list(self._json("GET", path), key="exports")
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
        params = window_params(
            start, end, tables, filter_params(filters, search_filters, custom_event_filters)
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
        """The organization's maximum number of rows in one export (asked once a client)."""
        if self._row_limit is None:
            self._row_limit = int(self._field("/v15/exports/rowLimit", "exportRowCountLimit"))
        return self._row_limit

    def service_now(self) -> datetime | None:
        """The service's present by the ``Date`` of its latest answer; None before any."""
        return self._transport.service_clock.now()

    def service_status(self) -> str:
        """``online``, ``unavailable`` or ``degraded`` (as the service spells it)."""
        return str(self._field("/v15/exports/status", "status"))

    def exportable_dimensions(self) -> list[dict[str, Any]]:
        """The dimensions an export can contain (``displayName``, ``returnName``, ``type``...)."""
        data = self._json("GET", "/v15/dimensions/exportables")
        return [item for item in as_list(data, key="dimensions") if isinstance(item, dict)]

    def download_export(
        self,
        export_id: str,
        destination: Path,
        *,
        on_progress: TDownloadProgress | None = None,
    ) -> int:
        """Download the export's zip to ``destination``; returns the bytes written.

        Each attempt asks the API for a fresh redirect (pre-signed links expire) and streams
        the storage URL without credentials. Broken or short bodies, storage 403 (an expired
        link), 429 and 5xx are retried within the retry policy; a storage 404 (the file is
        gone, the export EXPIRED) raises CoveoNotFoundError. On failure the file is removed.
        """
        path = export_path(export_id)
        state, started, stalls = self._transport.start(), self._clock(), 0
        try:
            while True:
                location = self._redirect_location(path, state)
                watchdog = StallWatchdog(self._transport.limits, self._clock, started)
                outcome = fetch(self._transport, location, destination, on_progress, watchdog)
                if isinstance(outcome, int):
                    return outcome
                stalls += outcome.stalled
                if outcome.final or stalls > DOWNLOAD_STALL_RETRIES:
                    raise _stalled(export_id, public_url(location), outcome, stalls)
                self._transport.settle(outcome, state, "GET", public_url(location), storage=True)
        except (CoveoUAError, OSError, KeyboardInterrupt):
            destination.unlink(missing_ok=True)
            raise

    # --- plumbing ------------------------------------------------------------------

    def _export(self, method: str, path: str, params: TParams) -> ExportInfo:
        return self._parse_export(self._json(method, path, params), method, path)

    def _parse_export(self, data: Any, method: str, path: str) -> ExportInfo:
        try:
            return ExportInfo.from_api(data)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            what = self._transport.redact(f"not an export object ({exc!r})")
            raise _unexpected(method, path, what) from None

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
                excerpt = self._transport.redact(excerpt)
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


def _stalled(export_id: str, url: str, failure: Failure, attempts: int) -> DownloadStalledError:
    tried = "" if failure.final else f" (in each of {attempts} attempts from a fresh redirect)"
    return DownloadStalledError(
        failure.status, "GET", url, f"{failure.message}{tried}", failure.request_id,
        hint=f"export {export_id}: the storage host is too slow or stalled; rerun later "
        "(the export is reused), or raise download_stall_seconds / download_deadline",
    )  # fmt: skip


def _unexpected(method: str, path: str, what: str) -> CoveoAPIError:
    return CoveoAPIError(200, method, path, f"unexpected response: {what}")


__all__ = ["CoveoClient", "ExportInfo", "TExportStatus"]
