"""The present, in one place, so that tests (and the simulator's users) can move it.

Callers look ``utc_now`` up on this module at call time (``clock.utc_now()``), so
``monkeypatch.setattr(clock, "utc_now", ...)`` changes what every run sees as now.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
