"""Window planning: pure functions, no clock, no network."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from coveo_ua_source.dates import Window, format_utc, parse_datetime, parse_duration
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.exports.windows import (
    PlannedExport,
    check_range,
    default_end,
    grid_windows,
    plan_exports,
)
from coveo_ua_source.schema import parse_tables

DAY = timedelta(days=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2024-01-31", utc(2024, 1, 31), id="date-string"),
        pytest.param("2024-01-31T12:30:00", utc(2024, 1, 31, 12, 30), id="naive-is-utc"),
        pytest.param("2024-01-31T12:30:00Z", utc(2024, 1, 31, 12, 30), id="zulu"),
        pytest.param("2024-01-31T14:30:00+02:00", utc(2024, 1, 31, 12, 30), id="offset"),
        pytest.param(date(2024, 1, 31), utc(2024, 1, 31), id="date-object"),
        pytest.param(datetime(2024, 1, 31, 5), utc(2024, 1, 31, 5), id="naive-datetime"),
        pytest.param(
            datetime(2024, 1, 31, 5, tzinfo=timezone(timedelta(hours=-5))),
            utc(2024, 1, 31, 10),
            id="aware-datetime",
        ),
    ],
)
def test_parse_datetime_returns_aware_utc(value: object, expected: datetime) -> None:
    parsed = parse_datetime(value, "start_date")  # type: ignore[arg-type]
    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "", 20240101])
def test_parse_datetime_rejects_garbage_naming_the_parameter(value: object) -> None:
    with pytest.raises(ConfigurationError, match="start_date"):
        parse_datetime(value, "start_date")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("P1D", DAY, id="day"),
        pytest.param("PT6H", timedelta(hours=6), id="hours"),
        pytest.param("P1W", timedelta(days=7), id="week"),
        pytest.param("P1DT12H", timedelta(days=1, hours=12), id="mixed"),
        pytest.param("pt30m", timedelta(minutes=30), id="lower-case"),
        pytest.param("PT1.5S", timedelta(seconds=1.5), id="fraction"),
        pytest.param(timedelta(hours=3), timedelta(hours=3), id="timedelta"),
    ],
)
def test_parse_duration(value: object, expected: timedelta) -> None:
    assert parse_duration(value, "window") == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["P1M", "P1Y", "P", "PT", "1 day", "-P1D", 3])
def test_parse_duration_rejects_non_fixed_or_garbage(value: object) -> None:
    with pytest.raises(ConfigurationError, match="window"):
        parse_duration(value, "window")  # type: ignore[arg-type]


def test_parse_tables_orders_and_validates() -> None:
    assert parse_tables(None) == ("searches", "clicks", "custom_events", "keywords", "groups")
    assert parse_tables(["Clicks", "searches"]) == ("searches", "clicks")
    assert parse_tables("groups") == ("groups",)
    with pytest.raises(ConfigurationError, match=r"unknown table.*click\b"):
        parse_tables(["click"])
    with pytest.raises(ConfigurationError, match="empty"):
        parse_tables([])
    with pytest.raises(ConfigurationError, match="tables is empty"):
        parse_tables([""])  # `--tables ""`: none, not all
    assert parse_tables("searches, clicks") == ("searches", "clicks"), "a TOML or env string"


def test_a_table_loaded_past_end_date_is_not_exported_again_for_a_lookback() -> None:
    day = timedelta(days=1)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    ahead = {"searches": start + 10 * day, "clicks": start + day}
    plan = plan_exports(start, start + 2 * day, day, ahead, lookback=day)
    assert [(p.window.start, p.tables) for p in plan] == [
        (start, ("clicks",)),
        (start + day, ("clicks",)),
    ], "searches is loaded to day 10: an end_date of day 2 gives it nothing to load"


def test_a_table_loaded_exactly_to_end_date_gets_its_lookback() -> None:
    day = timedelta(days=1)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    plan = plan_exports(start, start + 2 * day, day, {"searches": start + 2 * day}, lookback=day)
    assert [(p.window.start, p.tables) for p in plan] == [(start + day, ("searches",))]


def test_check_range_rejects_start_after_end_and_tiny_windows() -> None:
    with pytest.raises(ConfigurationError, match="not before end_date"):
        check_range(utc(2024, 2, 1), utc(2024, 1, 1), DAY)
    with pytest.raises(ConfigurationError, match="not before end_date"):
        check_range(utc(2024, 1, 1), utc(2024, 1, 1), DAY)
    with pytest.raises(ConfigurationError, match="shorter than a minute"):
        check_range(utc(2024, 1, 1), utc(2024, 1, 2), timedelta(seconds=10))


def test_default_end_is_last_whole_hour_after_settle_delay() -> None:
    now = utc(2024, 3, 10, 14, 25, 7)
    assert default_end(now, timedelta(hours=1)) == utc(2024, 3, 10, 13)
    assert default_end(now, timedelta(0)) == utc(2024, 3, 10, 14)


def test_format_utc_has_milliseconds_and_z() -> None:
    moment = datetime(2024, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert format_utc(moment) == "2024-01-31T23:59:59.999Z"
    assert format_utc(utc(2024, 1, 1)) == "2024-01-01T00:00:00.000Z"


def test_grid_windows_cover_range_without_gaps_or_overlap() -> None:
    windows = grid_windows(utc(2024, 1, 1), utc(2024, 1, 1), utc(2024, 1, 3, 12), DAY)
    assert windows == [
        Window(utc(2024, 1, 1), utc(2024, 1, 2)),
        Window(utc(2024, 1, 2), utc(2024, 1, 3)),
        Window(utc(2024, 1, 3), utc(2024, 1, 3, 12)),
    ]


def test_grid_windows_start_off_grid_snaps_back_to_grid() -> None:
    windows = grid_windows(utc(2024, 1, 1), utc(2024, 1, 2, 18), utc(2024, 1, 4), DAY)
    assert windows == [
        Window(utc(2024, 1, 2, 18), utc(2024, 1, 3)),
        Window(utc(2024, 1, 3), utc(2024, 1, 4)),
    ]


def test_window_halves_meet_at_a_millisecond() -> None:
    window = Window(utc(2024, 1, 1), utc(2024, 1, 1, 0, 0, 0) + timedelta(milliseconds=3))
    first, second = window.halves()
    assert first.start == window.start
    assert second.end == window.end
    assert first.end == second.start
    assert first.end.microsecond % 1000 == 0
    assert str(first) == "[2024-01-01T00:00:00.000Z, 2024-01-01T00:00:00.001Z)"


def test_plan_first_run_shares_one_export_per_window() -> None:
    plan = plan_exports(utc(2024, 1, 1), utc(2024, 1, 3), DAY, {"searches": None, "clicks": None})
    assert plan == [
        PlannedExport(Window(utc(2024, 1, 1), utc(2024, 1, 2)), ("searches", "clicks")),
        PlannedExport(Window(utc(2024, 1, 2), utc(2024, 1, 3)), ("searches", "clicks")),
    ]


def test_plan_nothing_when_every_table_is_current() -> None:
    end = utc(2024, 1, 3)
    assert plan_exports(utc(2024, 1, 1), end, DAY, {"searches": end, "clicks": end}) == []


def test_plan_incremental_extension_exports_only_new_windows() -> None:
    plan = plan_exports(utc(2024, 1, 1), utc(2024, 1, 4, 6), DAY, {"searches": utc(2024, 1, 3)})
    assert [p.window for p in plan] == [
        Window(utc(2024, 1, 3), utc(2024, 1, 4)),
        Window(utc(2024, 1, 4), utc(2024, 1, 4, 6)),
    ]


def test_plan_partial_last_window_resumes_on_grid() -> None:
    plan = plan_exports(utc(2024, 1, 1), utc(2024, 1, 5), DAY, {"searches": utc(2024, 1, 4, 6)})
    assert [p.window for p in plan] == [Window(utc(2024, 1, 4, 6), utc(2024, 1, 5))]


def test_plan_table_added_later_is_backfilled_alone() -> None:
    plan = plan_exports(
        utc(2024, 1, 1),
        utc(2024, 1, 4),
        DAY,
        {"searches": utc(2024, 1, 3), "groups": None},
    )
    assert [(p.window.start.day, p.tables) for p in plan] == [
        (1, ("groups",)),
        (2, ("groups",)),
        (3, ("searches", "groups")),
    ]


def test_plan_lookback_reexports_the_tail_but_not_before_start() -> None:
    plan = plan_exports(
        utc(2024, 1, 1),
        utc(2024, 1, 4),
        DAY,
        {"searches": utc(2024, 1, 3), "clicks": utc(2024, 1, 1, 6)},
        lookback=timedelta(hours=12),
    )
    windows = {
        p.tables: [(w.window.start, w.window.end) for w in plan if w.tables == p.tables]
        for p in plan
    }
    assert windows[("searches",)][0] == (utc(2024, 1, 2, 12), utc(2024, 1, 3))
    clicks_windows = [p.window for p in plan if "clicks" in p.tables]
    assert clicks_windows[0].start == utc(2024, 1, 1)
    assert clicks_windows[-1].end == utc(2024, 1, 4)


def test_plan_windows_tile_each_table_range_exactly() -> None:
    positions = {"searches": utc(2024, 1, 2, 7), "clicks": None, "keywords": utc(2024, 1, 5)}
    end = utc(2024, 1, 6, 3)
    plan = plan_exports(utc(2024, 1, 1), end, timedelta(hours=7), positions)  # type: ignore[arg-type]
    for table, begin in (
        ("searches", utc(2024, 1, 2, 7)),
        ("clicks", utc(2024, 1, 1)),
        ("keywords", utc(2024, 1, 5)),
    ):
        windows = [p.window for p in plan if table in p.tables]
        assert windows[0].start == begin
        assert windows[-1].end == end
        assert all(a.end == b.start for a, b in itertools.pairwise(windows))
