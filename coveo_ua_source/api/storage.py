"""Streaming an export's zip from the storage host: no credentials, safe redirects.

``fetch`` GETs a pre-signed URL without the ``Authorization`` header (session defaults
included), follows at most ``DOWNLOAD_MAX_REDIRECTS`` http(s) redirects, feeds the
``StallWatchdog`` (see ``download``) after every read and returns the bytes written or a
``Failure`` that ``Transport.settle`` classifies. No dlt here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import requests
import urllib3

from coveo_ua_source.api.download import DownloadStalled, StallWatchdog, unsafe_location
from coveo_ua_source.api.errors import BAD_REDIRECT, Failure, public_url, scheme_and_host
from coveo_ua_source.api.transport import Transport
from coveo_ua_source.exceptions import CoveoStorageError
from coveo_ua_source.settings import DOWNLOAD_CHUNK_BYTES, DOWNLOAD_MAX_REDIRECTS

TDownloadProgress = Callable[[int, int | None], None]  # bytes written, bytes expected


def fetch(
    transport: Transport,
    url: str,
    destination: Path,
    on_progress: TDownloadProgress | None,
    watchdog: StallWatchdog,
) -> int | Failure:
    """Stream ``url`` without credentials to ``destination``; returns bytes or a failure.

    Reads return whatever has arrived (``read1``), so the watchdog sees every trickle;
    a silent host is cut by a read timeout no longer than the stall period.
    """
    written, total, status, request_id = 0, None, None, None
    try:
        with _open(transport, url) as response:
            if response.status_code >= 400:
                body = response.raw.read(65536, decode_content=True) or b""
                return transport.failure(response, body)
            status, request_id = response.status_code, response.headers.get("X-Request-ID")
            total = _expected_length(response)
            response.raw.decode_content = True  # what iter_content would do
            with destination.open("wb") as out:
                while chunk := response.raw.read1(DOWNLOAD_CHUNK_BYTES):
                    written += out.write(chunk)
                    watchdog.check(written)
                    if on_progress is not None:
                        on_progress(written, total)
    except DownloadStalled as stall:
        return Failure(status, str(stall), request_id, stalled=True, final=stall.final)
    except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
        silent = f"the download stalled: no byte arrived for {transport.limits.stall_seconds:g} s"
        message = f"{silent} ({type(exc).__name__}); {written} bytes arrived in all"
        return Failure(status, message, request_id, stalled=True)
    except (
        requests.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.HTTPError,
    ) as exc:
        broke = f"the connection broke ({type(exc).__name__})"
        return Failure(status, f"{broke} after {written} of {total or '?'} bytes", request_id)
    if total is not None and written != total:
        return Failure(status, f"the body ended after {written} of {total} bytes", request_id)
    return written


def _open(transport: Transport, url: str) -> requests.Response:
    """GET the storage URL, following at most DOWNLOAD_MAX_REDIRECTS http(s) redirects."""
    for _hop in range(DOWNLOAD_MAX_REDIRECTS + 1):
        refused = unsafe_location(url)
        if refused is not None:
            raise CoveoStorageError(
                None, "GET", scheme_and_host(url), f"the download was redirected to {refused}",
                hint=BAD_REDIRECT,
            )  # fmt: skip
        response = _get(transport, url)
        if not response.is_redirect:
            return response
        location = response.headers.get("Location", "")
        response.close()
        url = urljoin(response.url, location)
    raise CoveoStorageError(
        None, "GET", public_url(url),
        f"the download was redirected more than {DOWNLOAD_MAX_REDIRECTS} times (a loop?)",
        hint=BAD_REDIRECT,
    )  # fmt: skip


def _get(transport: Transport, url: str) -> requests.Response:
    try:
        return transport.session.get(
            url,
            headers={"User-Agent": transport.user_agent},
            stream=True,
            auth=_StripAuthorization(),
            timeout=_read_timeout(transport),
            allow_redirects=False,
        )
    except (requests.ConnectionError, requests.Timeout):
        raise
    except requests.RequestException as exc:
        raise CoveoStorageError(
            None, "GET", public_url(url), transport.redact(f"{type(exc).__name__}: {exc}"),
            hint=BAD_REDIRECT,
        ) from None  # fmt: skip


def _read_timeout(transport: Transport) -> tuple[float, float]:
    """The connect timeout, and a read timeout no longer than the stall period."""
    timeout = transport.timeout
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return connect, min(read, transport.limits.stall_seconds)


def _expected_length(response: requests.Response) -> int | None:
    """Content-Length when it counts the bytes we will see (no content encoding)."""
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    length = response.headers.get("Content-Length", "").strip()
    return int(length) if encoding == "identity" and length.isdigit() else None


class _StripAuthorization(requests.auth.AuthBase):
    """Removes any Authorization header (session defaults included) from a request."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request
