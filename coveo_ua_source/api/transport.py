"""How the client sends API requests: with the token, retried per one policy.

- ``RetryState`` computes capped exponential backoff with jitter, honours ``Retry-After``
  and stops after ``max_attempts`` or once ``budget`` seconds were slept;
- ``Transport.call`` sends one API request until it succeeds or the policy gives up;
- ``Transport.settle`` is the one place deciding "raise now" or "wait and retry", by the
  status table in ``errors``.

Streaming a download from the storage host lives in ``storage``. The token only lives in
the ``Authorization`` header built by ``Transport``; it is redacted from service messages
and never logged. No dlt here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests

from coveo_ua_source.api.download import DownloadLimits
from coveo_ua_source.api.errors import (
    BAD_REQUEST,
    RETRY_AFTER_STATUSES,
    Failure,
    error_text,
    parse_retry_after,
    rule_for,
)
from coveo_ua_source.api.models import TParams
from coveo_ua_source.exceptions import CoveoAPIError, CoveoRetryExhaustedError
from coveo_ua_source.settings import HTTP_BACKOFF_BASE, HTTP_BACKOFF_MAX

logger = logging.getLogger(__name__)

TTimeout = float | tuple[float, float]


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


class ServiceClock:
    """The service's present, as the ``Date`` header of its latest answer told it, moved on
    by the time elapsed here since (a worker's own clock may be hours off)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._reading: tuple[datetime, float] | None = None

    def record(self, date_header: str | None) -> None:
        if not date_header:
            return
        try:
            told = parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if told.tzinfo is not None:
            self._reading = (told.astimezone(UTC), self._monotonic())

    def now(self) -> datetime | None:
        """The service's present, or None before any answer with a ``Date``."""
        if self._reading is None:
            return None
        told, at = self._reading
        return told + timedelta(seconds=self._monotonic() - at)


@dataclass(frozen=True)
class Transport:
    """Sends API requests with the token and storage requests without, under the policy."""

    session: requests.Session = field(repr=False)
    policy: RetryPolicy
    timeout: TTimeout
    token: str = field(repr=False)  # only ever put in the Authorization header
    user_agent: str
    limits: DownloadLimits = field(default_factory=DownloadLimits)
    service_clock: ServiceClock = field(default_factory=ServiceClock)

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
                raise CoveoAPIError(None, method, path, text, hint=BAD_REQUEST) from None
            else:
                if response.status_code < 400:
                    self._log(method, path, response.status_code, state, None)
                    self.service_clock.record(response.headers.get("Date"))
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
