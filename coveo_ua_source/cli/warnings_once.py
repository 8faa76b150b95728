"""Each kind of the connector's warnings once a command, with a count of the rest.

A kind is the logger and the message's template: "44 value(s) did not parse in window 1"
and "61 ... in window 2" are one kind, told once with how many more there were.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from coveo_ua_source import settings

CONNECTOR_LOGGER = "coveo_ua_source"
SUMMARY_MARK = next(iter(settings.IN_RUN_SUMMARY))


class OncePerKind(logging.Filter):
    """Lets the first warning of each kind through (or none with ``show=False``) and
    counts every one; with ``summarized=False`` the warnings that the run summary reports
    (marked ``settings.IN_RUN_SUMMARY``) are counted but not printed."""

    def __init__(self, *, show: bool = True, summarized: bool = True) -> None:
        super().__init__()
        self.show = show
        self.summarized = summarized
        self.counts: Counter[tuple[str, str]] = Counter()
        self.first: dict[tuple[str, str], str] = {}
        self._shown: dict[tuple[str, str], logging.LogRecord] = {}
        self._mark = f"_coveo_ua_counted_{id(self)}"
        self._in_summary: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(CONNECTOR_LOGGER):
            return True
        kind = (record.name, str(record.msg))
        # one filter on several handlers sees each record once per handler
        if not getattr(record, self._mark, False):
            setattr(record, self._mark, True)
            self.counts[kind] += 1
            if kind not in self.first:
                self.first[kind] = record.getMessage()
                self._shown[kind] = record
            if getattr(record, SUMMARY_MARK, False):
                self._in_summary.add(kind)
        if not self.summarized and kind in self._in_summary:
            return False
        return self.show and self._shown.get(kind) is record

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def not_summarized(self) -> Counter[str]:
        """The first message of each kind that no summary reports, with its count."""
        return Counter(
            {self.first[kind]: n for kind, n in self.counts.items() if kind not in self._in_summary}
        )

    def repeats(self) -> list[str]:
        """One line per kind told more than once: how many more there were."""
        return [
            f"({count - 1} more warning(s) like: {self.first[kind][:80]}...)"
            for kind, count in self.counts.items()
            if count > 1 and (self.summarized or kind not in self._in_summary)
        ]


@contextmanager
def warnings_once(*, show_all: bool = False, summarized: bool = True) -> Iterator[OncePerKind]:
    """``OncePerKind`` on every handler of the root logger for the block (on none with
    ``show_all``: every warning is printed). ``summarized=False``: the command prints a
    run summary that reports the warnings marked ``settings.IN_RUN_SUMMARY``."""
    once = OncePerKind(summarized=summarized)
    handlers = [] if show_all else list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(once)
    try:
        yield once
    finally:
        for handler in handlers:
            handler.removeFilter(once)


class _Sink(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        """Counted by the filter, printed nowhere."""


@contextmanager
def warnings_held() -> Iterator[OncePerKind]:
    """The connector's warnings counted and printed nowhere, for a summary of them."""
    logger = logging.getLogger(CONNECTOR_LOGGER)
    once, sink = OncePerKind(show=False), _Sink()
    sink.addFilter(once)
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(sink)
    try:
        yield once
    finally:
        logger.removeHandler(sink)
        logger.propagate = propagate
