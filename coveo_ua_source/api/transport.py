"""How the client sends requests: retries, waits, error classification, safe downloads.

- ``rule_for(status)`` is the single table of outcomes: the exception a status raises,
  whether it is retried, and the hint telling the user how to fix it;
- ``RetryState`` computes capped exponential backoff with jitter, honours ``Retry-After``
  and stops after ``max_attempts`` or once ``budget`` seconds were slept;
- ``Transport.settle`` is the one place deciding "raise now" or "wait and retry";
- ``error_text`` turns an error body (JSON, a WAF's HTML, plain text) into one short line.

The token only lives in the ``Authorization`` header built by ``Transport``; it is
redacted from service messages and never logged. No dlt here.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from coveo_ua_source.api.download import (
    DownloadLimits,
    DownloadStalled,
    StallWatchdog,
    unsafe_location,
)
from coveo_ua_source.api.models import TParams
from coveo_ua_source.exceptions import (
    CoveoAPIError,
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoNotFoundError,
    CoveoRetryExhaustedError,
    CoveoStorageError,
)
from coveo_ua_source.settings import (
    DOWNLOAD_CHUNK_BYTES,
    DOWNLOAD_MAX_REDIRECTS,
    HTTP_BACKOFF_BASE,
    HTTP_BACKOFF_MAX,
)

logger = logging.getLogger(__name__)

TTimeout = float | tuple[float, float]
TProgress = Callable[[int, int | None], None]


class StatusRule(NamedTuple):
    """What to do with one HTTP status: the exception, whether to retry, the fix."""

    error: type[CoveoAPIError]
    retried: bool
    hint: str


_LATER = "the service kept failing: retry later"
_RULES: dict[int | None, StatusRule] = {  # None = no response at all
    400: StatusRule(
        CoveoBadRequestError,
        False,
        "the service rejected a parameter or filter (its explanation is above): fix the parameter",
    ),
    401: StatusRule(
        CoveoAuthError,
        False,
        "the access token is invalid or expired: create a new API key or OAuth token",
    ),
    403: StatusRule(
        CoveoAuthError,
        False,
        "the token lacks a privilege: creating exports needs "
        '"Analytics - Data exports - Edit", reading or downloading them needs '
        '"Analytics - Data exports - View"; with an OAuth token also check org_id '
        "(an HTML answer means a firewall or proxy blocked the request)",
    ),
    404: StatusRule(
        CoveoNotFoundError,
        False,
        "the export id is unknown: it was deleted, "
        "or belongs to another organization (check org_id)",
    ),
    408: StatusRule(CoveoRetryExhaustedError, True, _LATER),
    429: StatusRule(
        CoveoRetryExhaustedError,
        True,
        "the service kept rate limiting: retry later or run fewer exports at once",
    ),
    None: StatusRule(
        CoveoRetryExhaustedError,
        True,
        "the service could not be reached: check the network, region/base_url and proxies",
    ),
}
_GONE = StatusRule(
    CoveoNotFoundError,
    False,
    "the export's file is no longer in storage: the export probably EXPIRED; create it again",
)
_REFUSED_LINK = StatusRule(
    CoveoRetryExhaustedError,
    True,
    "the storage host kept refusing the pre-signed link even after fresh redirects: the "
    "link expired or was revoked (the access token is never sent there, so it is not the "
    "cause): retry later",
)
_STORAGE_RULES: dict[int | None, StatusRule] = {  # the download host differs from the API
    200: StatusRule(CoveoRetryExhaustedError, True, "the download kept breaking: retry later"),
    400: StatusRule(CoveoAPIError, False, "the storage host rejected the download request"),
    401: _REFUSED_LINK,
    403: _REFUSED_LINK,
    404: _GONE,
    410: _GONE,
}
_BAD_REDIRECT = (
    "only http(s) redirects are followed, at most DOWNLOAD_MAX_REDIRECTS of them: a proxy or "
    "the storage host answered oddly; retry later, and check HTTP(S)_PROXY settings"
)
_BAD_REQUEST = "the request could not be sent: check base_url, proxies and the access token"
RETRY_AFTER_STATUSES = frozenset({429, 503})  # statuses whose Retry-After is honoured


def rule_for(status: int | None, *, storage: bool = False) -> StatusRule:
    """The outcome of an error status (or of no response, ``None``; 200 = a broken body).

    ``storage``: the status came from the download host, where 403 means an expired
    pre-signed link (retried with a fresh redirect) and 404 a file that is gone.
    """
    if storage and status in _STORAGE_RULES:
        return _STORAGE_RULES[status]
    if status in _RULES:
        return _RULES[status]
    if status is not None and status >= 500:
        return StatusRule(CoveoRetryExhaustedError, True, _LATER)
    return StatusRule(CoveoAPIError, False, "")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one logical request may be retried."""

    max_attempts: int
    budget: float
    sleep: Callable[[float], None]
    random: Callable[[], float]
    base: float = HTTP_BACKOFF_BASE
    cap: float = HTTP_BACKOFF_MAX


class RetryState:
    """The attempts made and seconds slept so far for one logical request."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempt = 1
        self.slept = 0.0

    def next_wait(self, retry_after: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when retries are exhausted.

        Backoff: ``base * 2**(attempt-1)`` capped at ``cap``, with "equal jitter" (uniform in
        its upper half). Retry-After: the server's delay plus up to ``base`` s of jitter; when
        it exceeds the remaining budget we give up at once. Waits never exceed the budget.
        """
        policy = self.policy
        remaining = policy.budget - self.slept
        if self.attempt >= policy.max_attempts or remaining <= 0:
            return None
        if retry_after is not None:
            wait = retry_after + policy.random() * policy.base
            return None if retry_after > remaining else min(wait, remaining)
        delay = min(policy.cap, policy.base * 2.0 ** (self.attempt - 1))
        return min(delay / 2 + policy.random() * delay / 2, remaining)

    def wait(self, seconds: float) -> None:
        """Sleep before the next attempt and count it."""
        self.policy.sleep(seconds)
        self.slept += seconds
        self.attempt += 1


@dataclass(frozen=True)
class Failure:
    """One failed attempt: the status (None = no response) and what the service said."""

    status: int | None
    message: str
    request_id: str | None = None
    retry_after: float | None = None
    stalled: bool = False  # the download was too slow (see download.py)
    final: bool = False  # and its deadline passed: retrying cannot help


class _StripAuthorization(requests.auth.AuthBase):
    """Removes any Authorization header (session defaults included) from a request."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


@dataclass(frozen=True)
class Transport:
    """Sends API requests with the token and storage requests without, under the policy."""

    session: requests.Session = field(repr=False)
    policy: RetryPolicy
    timeout: TTimeout
    token: str = field(repr=False)  # only ever put in the Authorization header
    user_agent: str
    limits: DownloadLimits = field(default_factory=DownloadLimits)

    def start(self) -> RetryState:
        """A fresh attempt counter and sleep budget for one logical request."""
        return RetryState(self.policy)

    def call(
        self,
        method: str,
        url: str,
        path: str,
        params: TParams,
        *,
        state: RetryState | None = None,
        follow: bool = True,
    ) -> requests.Response:
        """Send one API request, retrying per the policy; returns a response below 400."""
        state = state or self.start()
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=follow,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure = Failure(None, f"{type(exc).__name__}, no response")
            except requests.RequestException as exc:  # a bad redirect, URL or header
                text = self.redact(f"{type(exc).__name__}: {exc}")
                raise CoveoAPIError(None, method, path, text, hint=_BAD_REQUEST) from None
            else:
                if response.status_code < 400:
                    self._log(method, path, response.status_code, state, None)
                    return response
                with response:
                    failure = self.failure(response, response.content)
            self.settle(failure, state, method, path)

    def settle(
        self, failure: Failure, state: RetryState, method: str, path: str, *, storage: bool = False
    ) -> None:
        """The one place that decides: raise now (fatal or exhausted), or wait to retry."""
        rule = rule_for(failure.status, storage=storage)
        details = (failure.status, method, path, failure.message, failure.request_id)
        if not rule.retried:
            raise rule.error(*details, hint=rule.hint or None)
        wait = state.next_wait(failure.retry_after)
        self._log(method, path, failure.status, state, wait)
        if wait is None:
            tried = f"gave up after {state.attempt} attempt(s) and {state.slept:.1f} s of waiting"
            hint = f"{tried}; {rule.hint}" if rule.hint else tried
            raise CoveoRetryExhaustedError(*details, hint=hint)
        state.wait(wait)

    def failure(self, response: requests.Response, body: bytes) -> Failure:
        """Describe an error response: its status, message, request id and Retry-After."""
        status, headers = response.status_code, response.headers
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(headers.get("Retry-After"), headers.get("Date"))
        message = self.redact(error_text(body, headers.get("Content-Type", "")))
        return Failure(status, message, headers.get("X-Request-ID"), retry_after)

    def fetch(
        self, url: str, destination: Path, on_progress: TProgress | None, watchdog: StallWatchdog
    ) -> int | Failure:
        """Stream ``url`` without credentials to ``destination``; returns bytes or a failure.

        Reads return whatever has arrived (``read1``), so the watchdog sees every trickle;
        a silent host is cut by a read timeout no longer than the stall period.
        """
        written, total, status, request_id = 0, None, None, None
        try:
            with self._open_storage(url) as response:
                if response.status_code >= 400:
                    body = response.raw.read(65536, decode_content=True) or b""
                    return self.failure(response, body)
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
            silent = f"the download stalled: no byte arrived for {self.limits.stall_seconds:g} s"
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

    def _open_storage(self, url: str) -> requests.Response:
        """GET the storage URL, following at most DOWNLOAD_MAX_REDIRECTS http(s) redirects."""
        for _hop in range(DOWNLOAD_MAX_REDIRECTS + 1):
            refused = unsafe_location(url)
            if refused is not None:
                raise CoveoStorageError(
                    None, "GET", _scheme_and_host(url), f"the download was redirected to {refused}",
                    hint=_BAD_REDIRECT,
                )  # fmt: skip
            response = self._storage_get(url)
            if not response.is_redirect:
                return response
            location = response.headers.get("Location", "")
            response.close()
            url = urljoin(response.url, location)
        raise CoveoStorageError(
            None, "GET", public_url(url),
            f"the download was redirected more than {DOWNLOAD_MAX_REDIRECTS} times (a loop?)",
            hint=_BAD_REDIRECT,
        )  # fmt: skip

    def _storage_get(self, url: str) -> requests.Response:
        try:
            return self.session.get(
                url,
                headers={"User-Agent": self.user_agent},
                stream=True,
                auth=_StripAuthorization(),
                timeout=self._download_timeout(),
                allow_redirects=False,
            )
        except (requests.ConnectionError, requests.Timeout):
            raise
        except requests.RequestException as exc:
            raise CoveoStorageError(
                None, "GET", public_url(url), self.redact(f"{type(exc).__name__}: {exc}"),
                hint=_BAD_REDIRECT,
            ) from None  # fmt: skip

    def _download_timeout(self) -> tuple[float, float]:
        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,) * 2
        return connect, min(read, self.limits.stall_seconds)

    def redact(self, text: str) -> str:
        """``text`` with the token replaced by ``[token]`` wherever it is quoted."""
        return text.replace(self.token, "[token]") if len(self.token) >= 4 else text

    def _log(
        self, method: str, path: str, status: int | None, state: RetryState, wait: float | None
    ) -> None:
        then = "" if wait is None else f", retrying in {wait:.2f} s"
        logger.debug(
            "%s %s -> %s (attempt %d/%d%s)",
            method,
            path,
            status or "no response",
            state.attempt,
            self.policy.max_attempts,
            then,
        )


def _expected_length(response: requests.Response) -> int | None:
    """Content-Length when it counts the bytes we will see (no content encoding)."""
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    length = response.headers.get("Content-Length", "").strip()
    return int(length) if encoding == "identity" and length.isdigit() else None


def _scheme_and_host(url: str) -> str:
    """What a message may show of a location that is not followed."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def public_url(url: str) -> str:
    """A URL without its query (pre-signed signatures) or credentials, for messages."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def parse_retry_after(value: str | None, date: str | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date.

    An HTTP date is measured from the response's ``Date`` header when there is one (a
    skewed local clock then does not matter), else from now. Unparseable values give None.
    """
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        when = _http_date(value)
    now = _http_date(date) if date else None
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_INVISIBLE = re.compile(r"<(head|script|style)\b.*?</\1\s*>|<!--.*?-->", re.I | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def error_text(body: bytes, content_type: str = "") -> str:
    """The service's explanation in an error body, on one line.

    JSON: ``message`` (or ``error_description``/``error``) plus ``errorCode`` and ``type``,
    at most 500 characters. Anything else (a WAF's HTML page, plain text): the visible
    text, tags stripped, at most 200 characters.
    """
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type.lower() or text.lstrip().startswith(("{", "[")):
        message = _json_message(text)
        if message is not None:
            return _shorten(message, 500)
    visible = html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", text)))
    return _shorten(_SPACE.sub(" ", visible).strip(), 200)


def _json_message(text: str) -> str | None:
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    message = data.get("message") or data.get("error_description") or data.get("error") or ""
    details = [f"{key} {data[key]}" for key in ("errorCode", "type") if data.get(key)]
    if details:
        message = f"{message} ({', '.join(details)})" if message else ", ".join(details)
    return _SPACE.sub(" ", str(message)).strip()


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
