"""The CLI tells each kind of the connector's warnings once, with how many more there were."""

from __future__ import annotations

import logging

import pytest

from coveo_ua_source import settings
from coveo_ua_source.cli.warnings_once import warnings_held, warnings_once


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def printed() -> _Lines:
    handler = _Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler  # type: ignore[misc]
    root.removeHandler(handler)


def test_each_kind_once_then_a_count(printed: _Lines) -> None:
    connector = logging.getLogger("coveo_ua_source.warehouse.dimension_catalog")
    other = logging.getLogger("another.library")
    with warnings_once() as once:
        for window in range(3):
            connector.warning("window %d: %d value(s) did not parse", window, 10 + window)
        connector.warning("a disk is nearly full")
        other.warning("it says %s", "one")
        other.warning("it says %s", "two")
    assert printed.lines == [
        "window 0: 10 value(s) did not parse",
        "a disk is nearly full",
        "it says one",
        "it says two",
    ], "only the connector's repeats are held back"
    assert once.total == 4
    assert once.repeats() == ["(2 more warning(s) like: window 0: 10 value(s) did not parse...)"]
    connector.warning("window %d: %d value(s) did not parse", 9, 9)
    assert printed.lines[-1] == "window 9: 9 value(s) did not parse", "the filter is gone"


def test_held_warnings_are_counted_and_printed_nowhere(printed: _Lines) -> None:
    connector = logging.getLogger("coveo_ua_source.runs.plan")
    with warnings_held() as held:
        connector.warning("window %d skipped", 1)
        connector.warning("window %d skipped", 2)
    assert printed.lines == []
    assert held.total == 2
    assert list(held.first.values()) == ["window 1 skipped"]
    assert logging.getLogger("coveo_ua_source").propagate


def test_warnings_the_summary_reports_are_counted_not_printed(printed: _Lines) -> None:
    connector = logging.getLogger("coveo_ua_source.warehouse.bookkeeping")
    with warnings_once(summarized=False) as once:
        for window in range(2):
            connector.warning("window %d: rows rejected", window, extra=settings.IN_RUN_SUMMARY)
        connector.warning("window %d: loaded fewer rows than estimated", 0)
    assert printed.lines == ["window 0: loaded fewer rows than estimated"]
    assert once.total == 3
    assert once.repeats() == [], "the summary tells them, no 'more warning(s) like' line"
    with warnings_once() as once:  # a command without a summary prints the first one
        connector.warning("window %d: rows rejected", 5, extra=settings.IN_RUN_SUMMARY)
    assert printed.lines[-1] == "window 5: rows rejected"


def test_every_warning_is_printed_with_show_all(printed: _Lines) -> None:
    connector = logging.getLogger("coveo_ua_source.runs.plan")
    with warnings_once(show_all=True):
        connector.warning("window %d skipped", 1)
        connector.warning("window %d skipped", 2)
    assert printed.lines == ["window 1 skipped", "window 2 skipped"]
