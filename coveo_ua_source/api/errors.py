"""What a failed request means: the status table, and the service's message on one line.

- ``rule_for(status)`` is the single table of outcomes: the exception a status raises,
  whether it is retried, and the hint telling the user how to fix it;
- ``Failure`` describes one failed attempt (status, message, request id, Retry-After);
- ``error_text`` turns an error body (JSON, a WAF's HTML, plain text) into one short line;
- ``parse_retry_after`` reads a Retry-After header; ``public_url`` is what a message may
  show of a pre-signed URL.

No HTTP is sent here; ``transport`` decides with these whether to retry. No dlt here.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from coveo_ua_source.exceptions import (
    CoveoAPIError,
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoNotFoundError,
    CoveoRetryExhaustedError,
)


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
BAD_REDIRECT = (
    "only http(s) redirects are followed, at most DOWNLOAD_MAX_REDIRECTS of them: a proxy or "
    "the storage host answered oddly; retry later, and check HTTP(S)_PROXY settings"
)
BAD_REQUEST = "the request could not be sent: check base_url, proxies and the access token"
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
class Failure:
    """One failed attempt: the status (None = no response) and what the service said."""

    status: int | None
    message: str
    request_id: str | None = None
    retry_after: float | None = None
    stalled: bool = False  # the download was too slow (see download.py)
    final: bool = False  # and its deadline passed: retrying cannot help


def scheme_and_host(url: str) -> str:
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
