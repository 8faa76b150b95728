"""Dates, durations and time windows: the package's one parser and formatter of time.

Every datetime here is timezone-aware UTC; a window is half-open ``[start, end)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from coveo_ua_source.exceptions import ConfigurationError

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC time range ``[start, end)``."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"[{format_utc(self.start)}, {format_utc(self.end)})"

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def halves(self) -> tuple[Window, Window]:
        """The window cut in two at its midpoint, rounded down to the millisecond."""
        middle = self.start + self.duration / 2
        middle -= timedelta(microseconds=middle.microsecond % 1000)
        return Window(self.start, middle), Window(middle, self.end)


def format_utc(moment: datetime) -> str:
    """ISO 8601 with milliseconds and a Z, the form the API takes."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_datetime(value: str | date | datetime, name: str) -> datetime:
    """An ISO string, date or datetime as aware UTC; values without an offset are UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConfigurationError(
                f"{name}={value!r} is not an ISO 8601 date or datetime; "
                "use e.g. '2024-01-31' or '2024-01-31T12:00:00Z'"
            ) from None
    else:
        raise ConfigurationError(f"{name} must be an ISO string or a datetime, not {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_duration(value: str | timedelta, name: str) -> timedelta:
    """A timedelta or an ISO 8601 duration without years or months (``P1D``, ``PT6H``)."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(value.strip().upper()) if isinstance(value, str) else None
    if match is None or not any(match.groupdict().values()):
        raise ConfigurationError(
            f"{name}={value!r} is not a duration; use a timedelta or an ISO 8601 duration "
            "such as 'P1D', 'PT6H' or 'P7D' (years and months are not fixed lengths)"
        )
    parts = {key: float(number) for key, number in match.groupdict().items() if number}
    return timedelta(**parts)
