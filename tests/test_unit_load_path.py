"""Append or merge (runs/load_path.py) and repairs joining the plan (runs/repair.py): the
decisions, with what the destination holds made by hand in DuckDB. No export, no load."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from helpers import utc

from coveo_ua_source.exports.windows import PlannedExport, Window
from coveo_ua_source.runs import repair
from coveo_ua_source.runs.load_path import (
    UNKNOWN_EXTENT,
    appending_tables,
    destination_sql,
    has_sql,
    loaded_extents,
)
from coveo_ua_source.runs.repair import damaged_windows, with_repairs
from coveo_ua_source.schema import TTable

DAY = timedelta(days=1)
T0 = utc(2024, 3, 1)


def plan_of(*windows: tuple[datetime, datetime, tuple[str, ...]]) -> list[PlannedExport]:
    return [PlannedExport(Window(start, end), tables) for start, end, tables in windows]


@pytest.mark.parametrize(
    ("positions", "extents", "expected"),
    [
        pytest.param({"searches": None}, {}, {"searches"}, id="never-loaded"),
        pytest.param({"searches": T0}, {"searches": T0}, {"searches"}, id="continues"),
        pytest.param({"searches": T0 + DAY}, {}, set(), id="lookback-before-position"),
        pytest.param({"searches": None}, {"searches": T0 + DAY}, set(), id="partition-rows"),
        pytest.param({"searches": T0}, {"searches": UNKNOWN_EXTENT}, set(), id="no-bookkeeping"),
        pytest.param({"searches": None}, None, set(), id="destination-unknown"),
    ],
)
def test_append_only_when_no_planned_window_overlaps_loaded_rows(
    positions: dict[str, datetime | None],
    extents: dict[str, datetime] | None,
    expected: set[str],
) -> None:
    plan = plan_of((T0, T0 + DAY, ("searches",)), (T0 + DAY, T0 + 2 * DAY, ("searches",)))
    assert appending_tables(plan, positions, extents) == expected


def test_each_table_decides_alone() -> None:
    plan = plan_of(
        (T0 - DAY, T0, ("clicks",)),  # clicks looks back a day
        (T0, T0 + DAY, ("searches", "clicks")),
    )
    positions: dict[str, datetime | None] = {"searches": T0, "clicks": T0}
    assert appending_tables(plan, positions, {}) == {"searches"}


def test_repairs_join_the_plan_in_window_order() -> None:
    plan = plan_of((T0 + DAY, T0 + 2 * DAY, ("searches", "clicks")))
    damaged: dict[TTable, list[Window]] = {
        "groups": [Window(T0 + DAY, T0 + 2 * DAY)],  # the same window as a planned one
        "clicks": [Window(T0, T0 + DAY)],  # a window behind the plan
    }
    assert with_repairs(plan, damaged) == plan_of(
        (T0, T0 + DAY, ("clicks",)),
        (T0 + DAY, T0 + 2 * DAY, ("searches", "clicks", "groups")),
    )


def pipeline_on(tmp_path: Path, destination: Any) -> Any:
    return dlt.pipeline(
        pipeline_name="unit_load_path",
        destination=destination,
        dataset_name="coveo_ua",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def duckdb_holding(path: Path, statements: list[str]) -> Any:
    """A DuckDB destination whose coveo_ua dataset holds what ``statements`` made."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA coveo_ua")
        for statement in statements:
            connection.execute(statement)
    return dlt.destinations.duckdb(str(path))


def test_extents_are_each_tables_latest_window_end_in_the_destination(tmp_path: Path) -> None:
    destination = duckdb_holding(
        tmp_path / "x.duckdb",
        [
            "CREATE TABLE coveo_ua._coveo_ua_windows "
            "(table_name TEXT, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ)",
            "INSERT INTO coveo_ua._coveo_ua_windows VALUES "
            "('searches', '2024-03-01 00:00+00', '2024-03-02 00:00+00'), "
            "('searches', '2024-03-02 00:00+00', '2024-03-03 00:00+00'), "
            "('clicks', '2024-03-01 00:00+00', '2024-03-02 00:00+00')",
            "CREATE TABLE coveo_ua.groups (group_id TEXT)",  # rows without bookkeeping
        ],
    )
    with destination_sql(pipeline_on(tmp_path, destination)) as sql:
        extents = loaded_extents(sql, ["searches", "groups", "keywords"])
    assert extents == {
        "searches": utc(2024, 3, 3),
        "clicks": utc(2024, 3, 2),
        "groups": UNKNOWN_EXTENT,
    }


def test_an_empty_destination_holds_nothing_to_overlap(tmp_path: Path) -> None:
    pipeline = pipeline_on(tmp_path, dlt.destinations.duckdb(str(tmp_path / "new.duckdb")))
    with destination_sql(pipeline) as sql:
        assert loaded_extents(sql, ["searches"]) == {}


def test_a_destination_that_cannot_be_asked_makes_every_table_merge(tmp_path: Path) -> None:
    lake = pipeline_on(tmp_path, dlt.destinations.filesystem(str(tmp_path / "lake")))
    assert not has_sql(lake)
    with destination_sql(lake) as sql:
        assert sql is None
        assert loaded_extents(sql, ["searches"]) is None
    broken = duckdb_holding(
        tmp_path / "broken.duckdb",
        ["CREATE TABLE coveo_ua._coveo_ua_windows (table_name TEXT)"],  # no window_end
    )
    with destination_sql(pipeline_on(tmp_path, broken)) as sql:
        assert loaded_extents(sql, ["searches"]) is None
    assert appending_tables(plan_of((T0, T0 + DAY, ("searches",))), {}, None) == frozenset()


def test_a_destination_that_cannot_be_reached_is_not_asked_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-folder.duckdb").mkdir()  # DuckDB cannot open a folder as a database
    pipeline = pipeline_on(tmp_path, dlt.destinations.duckdb(str(tmp_path / "a-folder.duckdb")))
    with destination_sql(pipeline) as sql:
        assert sql is None
        assert loaded_extents(sql, ["searches"]) is None, "every table merges"
        assert damaged_windows(sql, ["searches"]) == {}, "no repair"
    assert "could not ask the destination what it holds" in caplog.text
    assert "every table merges" in caplog.text


@pytest.mark.parametrize("per_query", [100, 2, 1], ids=["one-query", "two-queries", "per-window"])
def test_damaged_windows_are_those_of_the_latest_load_holding_a_key_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_query: int
) -> None:
    monkeypatch.setattr(repair, "WINDOWS_PER_QUERY", per_query)
    day = [f"2024-03-0{n} 00:00+00" for n in range(1, 6)]  # the bounds of 4 daily windows
    destination = duckdb_holding(
        tmp_path / "held.duckdb",
        [
            "CREATE TABLE coveo_ua._coveo_ua_windows (table_name TEXT, "
            "window_start TIMESTAMPTZ, window_end TIMESTAMPTZ, _dlt_load_id TEXT)",
            "INSERT INTO coveo_ua._coveo_ua_windows VALUES "
            f"('searches', '{day[0]}', '{day[1]}', '1'), "  # an older load: not checked
            f"('searches', '{day[1]}', '{day[2]}', '2'), ('searches', '{day[2]}', '{day[3]}', '2'),"
            f"('searches', '{day[3]}', '{day[4]}', '2'), ('clicks', '{day[1]}', '{day[2]}', '2')",
            "CREATE TABLE coveo_ua.searches (search_id TEXT, datetime TIMESTAMPTZ)",
            "INSERT INTO coveo_ua.searches VALUES "
            "('old', '2024-03-01 10:00+00'), ('old', '2024-03-01 11:00+00'), "
            "('a', '2024-03-02 10:00+00'), ('moved', '2024-03-02 11:00+00'), "
            "('b', '2024-03-03 10:00+00'), ('b', '2024-03-03 23:59:59.999+00'), "
            "('moved', '2024-03-04 11:00+00'), ('c', '2024-03-04 12:00+00'), "
            "('c', '2024-03-04 12:00+00'), ('after', '2024-03-05 00:00+00'), "
            "('after', '2024-03-05 00:00+00')",
        ],
    )  # clicks has bookkeeping rows but no table
    with destination_sql(pipeline_on(tmp_path, destination)) as sql:
        damaged = damaged_windows(sql, ["searches", "clicks", "groups"])
    assert damaged == {
        "searches": [
            Window(utc(2024, 3, 3), utc(2024, 3, 4)),
            Window(utc(2024, 3, 4), utc(2024, 3, 5)),
        ]
    }, "a key in two windows is no duplicate; rows outside the latest windows are not judged"
