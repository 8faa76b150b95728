"""Rules a download from the storage host must keep: progress, a deadline, safe redirects.

``StallWatchdog`` is fed the byte count after every read: fewer than ``min_bytes`` within
``stall_seconds`` is a stall, and the whole download (every attempt) has a ``deadline``.
A read timeout alone cannot catch a host that trickles one byte per second. The clock is
injected, so the rules are tested without waiting. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.settings import (
    DOWNLOAD_DEADLINE,
    DOWNLOAD_MIN_BYTES,
    DOWNLOAD_STALL_SECONDS,
)

Clock = Callable[[], float]
FOLLOWED_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class DownloadLimits:
    """How slow a download may be before it is given up."""

    min_bytes: int = DOWNLOAD_MIN_BYTES
    stall_seconds: float = DOWNLOAD_STALL_SECONDS
    deadline: float = DOWNLOAD_DEADLINE

    def __post_init__(self) -> None:
        checks = {
            "download_min_bytes": self.min_bytes,
            "download_stall_seconds": self.stall_seconds,
            "download_deadline": self.deadline,
        }
        for name, value in checks.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"{name}={value!r}: must be a number above 0")


class DownloadStalled(Exception):  # internal signal, never leaves storage.py
    """Raised by the watchdog; ``final`` when the deadline passed (no retry helps)."""

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


class StallWatchdog:
    """Checks one attempt's progress against the limits; the deadline spans all attempts."""

    def __init__(self, limits: DownloadLimits, clock: Clock, started: float) -> None:
        self._limits, self._clock, self._started = limits, clock, started
        self._mark_time = clock()
        self._mark_bytes = 0

    def check(self, received: int) -> None:
        """Raise DownloadStalled when the download is too slow; ``received`` is cumulative."""
        now, limits = self._clock(), self._limits
        if now - self._started > limits.deadline:
            raise DownloadStalled(
                f"the download outlasted download_deadline={limits.deadline:g} s "
                f"with {received} bytes received in this attempt",
                final=True,
            )
        if now - self._mark_time < limits.stall_seconds:
            return
        if received - self._mark_bytes < limits.min_bytes:
            raise DownloadStalled(
                f"the download stalled: {received - self._mark_bytes} bytes arrived in the "
                f"last {now - self._mark_time:.0f} s, fewer than download_min_bytes="
                f"{limits.min_bytes} per download_stall_seconds={limits.stall_seconds:g}; "
                f"{received} bytes arrived in all"
            )
        self._mark_time, self._mark_bytes = now, received


def unsafe_location(url: str) -> str | None:
    """Why a redirect target may not be followed (not http/https, no host); None if fine."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in FOLLOWED_SCHEMES:
        return f"a {scheme or 'relative'}: location, only http and https are followed"
    if not parts.hostname:
        return "a location without a host"
    return None
