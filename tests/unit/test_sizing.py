"""Fitting planned windows under the org's row limit (exports/sizing.py), with a stub client
that estimates rows per hour per table: nothing is created, nothing waits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import utc
from helpers.stub_client import StubClient

from coveo_ua_source import settings
from coveo_ua_source.dates import Window
from coveo_ua_source.exports.sizing import size_plan
from coveo_ua_source.exports.types import ExportRequest
from coveo_ua_source.exports.windows import PlannedExport

DAY = Window(utc(2024, 3, 1), utc(2024, 3, 2))
NEXT = Window(utc(2024, 3, 2), utc(2024, 3, 3))
HOUR = timedelta(hours=1)
LIMIT = 1000  # rows; the margin makes it 900
FIT = int(LIMIT * settings.ROW_LIMIT_MARGIN)


def client_with(searches_per_hour: int, clicks_per_hour: int = 0) -> StubClient:
    rates = {"searches": searches_per_hour, "clicks": clicks_per_hour}
    return StubClient(row_limit=LIMIT, rows_per_hour=lambda table: rates.get(table, 10**6))


def windows(plan: list[PlannedExport]) -> list[Window]:
    return [planned.window for planned in plan]


def test_windows_under_the_limit_keep_their_size_and_get_their_estimates() -> None:
    client = client_with(FIT // 24, 3)
    plan = [PlannedExport(DAY, ("searches", "clicks")), PlannedExport(NEXT, ("searches",))]
    sized = size_plan(client, plan, ExportRequest(), HOUR)
    assert sized == plan
    assert sized[0].estimates == {"searches": FIT // 24 * 24, "clicks": 72}
    assert sized[1].estimates == {"searches": FIT // 24 * 24}, "only the tables it carries"


def test_a_window_over_the_limit_is_halved_until_each_part_fits() -> None:
    client = client_with(100)  # 2,400 rows a day: quarters of 600 fit under 900
    sized = size_plan(client, [PlannedExport(DAY, ("searches",))], ExportRequest(), HOUR)
    first, second = DAY.halves()
    assert windows(sized) == [*first.halves(), *second.halves()]
    assert all(planned.estimates == {"searches": 600} for planned in sized)
    assert client.created == [], "sizing creates nothing"


def test_a_window_just_under_the_limit_is_split_too_since_estimates_are_estimates() -> None:
    client = client_with(40)  # 960 a day: under the limit of 1,000, over its 90%
    sized = size_plan(client, [PlannedExport(DAY, ("searches",))], ExportRequest(), HOUR)
    assert windows(sized) == list(DAY.halves())


def test_the_largest_table_decides() -> None:
    client = client_with(1, 50)  # clicks: 1,200 a day
    sized = size_plan(client, [PlannedExport(DAY, ("searches", "clicks"))], ExportRequest(), HOUR)
    assert windows(sized) == list(DAY.halves())
    assert all(planned.tables == ("searches", "clicks") for planned in sized)


def test_a_table_not_in_the_window_does_not_split_it() -> None:
    """The stub estimates 10**6 rows for every table but searches and clicks."""
    sized = size_plan(client_with(1), [PlannedExport(DAY, ("searches",))], ExportRequest(), HOUR)
    assert windows(sized) == [DAY]


def test_at_the_minimum_window_it_stops_splitting_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = client_with(10_000)
    plan = [PlannedExport(DAY, ("searches",))]
    sized = size_plan(client, plan, ExportRequest(), timedelta(hours=12))
    assert windows(sized) == list(DAY.halves())
    assert "already at the minimum size" in caplog.text


def test_progress_is_reported_per_planned_window_and_nothing_is_asked_for_no_plan() -> None:
    client = client_with(1)
    seen: list[tuple[int, int, Window]] = []
    plan = [PlannedExport(DAY, ("searches",)), PlannedExport(NEXT, ("searches",))]
    size_plan(client, plan, ExportRequest(), HOUR, lambda k, n, p: seen.append((k, n, p.window)))
    assert seen == [(1, 2, DAY), (2, 2, NEXT)]
    empty = client_with(1)
    assert size_plan(empty, [], ExportRequest(), HOUR) == []
    assert (empty.estimated, empty.row_limit_asked) == ([], 0), "no request for no plan"
