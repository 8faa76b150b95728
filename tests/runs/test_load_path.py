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

from coveo_ua_source.dates import Window
from coveo_ua_source.dlt_internals import CommittedState
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.runs import repair
from coveo_ua_source.runs.holdings import answers_sql, destination_view
from coveo_ua_source.runs.load_path import appending_tables, first_starts
from coveo_ua_source.runs.repair import damaged_windows, with_repairs
from coveo_ua_source.schema import TTable

DAY = timedelta(days=1)
T0 = utc(2024, 3, 1)


def plan_of(*windows: tuple[datetime, datetime, tuple[str, ...]]) -> list[PlannedExport]:
    return [PlannedExport(Window(start, end), tables) for start, end, tables in windows]


@pytest.mark.parametrize(
    ("positions", "earliest", "expected"),
    [
        pytest.param({"searches": None}, {}, {"searches"}, id="never-loaded"),
        pytest.param({"searches": T0}, {}, {"searches"}, id="continues"),
        pytest.param({"searches": T0 + DAY}, {}, set(), id="lookback-before-position"),
        pytest.param({"searches": None}, {"searches": T0 + DAY}, set(), id="partition-rows"),
        pytest.param({"searches": T0}, {"searches": T0}, set(), id="rows-of-an-unfinished-load"),
        pytest.param({"searches": None}, None, set(), id="destination-unknown"),
    ],
)
def test_append_only_when_no_planned_window_overlaps_loaded_rows(
    positions: dict[str, datetime | None],
    earliest: dict[str, datetime] | None,
    expected: set[str],
) -> None:
    plan = plan_of((T0, T0 + DAY, ("searches",)), (T0 + DAY, T0 + 2 * DAY, ("searches",)))
    assert appending_tables(first_starts(plan), positions, earliest) == expected


def test_each_table_decides_alone() -> None:
    plan = plan_of(
        (T0 - DAY, T0, ("clicks",)),  # clicks looks back a day
        (T0, T0 + DAY, ("searches", "clicks")),
    )
    assert first_starts(plan) == {"clicks": T0 - DAY, "searches": T0}
    positions: dict[str, datetime | None] = {"searches": T0, "clicks": T0}
    assert appending_tables(first_starts(plan), positions, {}) == {"searches"}


def test_rows_after_the_position_are_named_when_the_run_merges_instead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    appending_tables({"searches": T0}, {"searches": T0}, {"searches": T0 + DAY})
    assert "searches holds rows from 2024-03-02T00:00:00.000Z on" in caplog.text
    assert "merging them instead of appending" in caplog.text


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


def test_earliest_rows_are_each_tables_first_row_at_or_after_its_start(tmp_path: Path) -> None:
    destination = duckdb_holding(
        tmp_path / "x.duckdb",
        [
            "CREATE TABLE coveo_ua.searches (search_id TEXT, datetime TIMESTAMPTZ)",
            "INSERT INTO coveo_ua.searches VALUES ('a', '2024-03-01 10:00+00'), "
            "('b', '2024-03-02 09:00+00'), ('c', '2024-03-02 08:00+00')",
            "CREATE TABLE coveo_ua.groups (search_id TEXT, datetime TIMESTAMPTZ)",
        ],
    )
    starts = {"searches": T0 + timedelta(hours=12), "groups": T0, "keywords": T0}
    with destination_view(pipeline_on(tmp_path, destination)) as view:
        assert view.earliest_rows(starts) == {"searches": utc(2024, 3, 2, 8)}, (
            "groups is empty and keywords does not exist: neither holds rows"
        )


def test_an_empty_destination_holds_nothing_to_overlap(tmp_path: Path) -> None:
    pipeline = pipeline_on(tmp_path, dlt.destinations.duckdb(str(tmp_path / "new.duckdb")))
    with destination_view(pipeline) as view:
        assert view.earliest_rows({"searches": T0}) == {}
        assert view.committed_state() == CommittedState(0, {}), "nothing loaded: no state"
        assert view.loaded_windows(None).windows == {}


def test_a_destination_that_cannot_be_asked_makes_every_table_merge(tmp_path: Path) -> None:
    lake = pipeline_on(tmp_path, dlt.destinations.filesystem(str(tmp_path / "lake")))
    assert not answers_sql(lake)
    with destination_view(lake) as view:
        assert view.sql is None
        assert view.earliest_rows({"searches": T0}) is None
    broken = duckdb_holding(
        tmp_path / "broken.duckdb",
        ["CREATE TABLE coveo_ua.searches (search_id TEXT)"],  # no datetime column
    )
    with destination_view(pipeline_on(tmp_path, broken)) as view:
        assert view.earliest_rows({"searches": T0}) is None
    assert appending_tables({"searches": T0}, {}, None) == frozenset()


def test_a_destination_that_cannot_be_reached_is_not_asked_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-folder.duckdb").mkdir()  # DuckDB cannot open a folder as a database
    pipeline = pipeline_on(tmp_path, dlt.destinations.duckdb(str(tmp_path / "a-folder.duckdb")))
    with destination_view(pipeline) as view:
        assert view.sql is None
        assert view.committed_state() is None, "the run plans from its local state"
        assert view.earliest_rows({"searches": T0}) is None, "every table merges"
        assert damaged_windows(view, ["searches"], None) == ({}, None), "no repair"
    assert "could not ask the destination what it holds" in caplog.text
    assert "every table merges" in caplog.text


LOADS = [
    "CREATE TABLE coveo_ua._dlt_loads (load_id TEXT, status BIGINT, inserted_at TIMESTAMPTZ)",
    "INSERT INTO coveo_ua._dlt_loads VALUES ('1', 0, '2024-04-01 00:00+00'), "
    "('2', 0, '2024-04-10 00:00+00'), ('3', 1, '2024-04-11 00:00+00')",
]


@pytest.mark.parametrize("per_query", [100, 2, 1], ids=["one-query", "two-queries", "per-window"])
def test_damaged_windows_are_those_of_the_loads_since_the_last_check_holding_a_key_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_query: int
) -> None:
    monkeypatch.setattr(repair, "WINDOWS_PER_QUERY", per_query)
    day = [f"2024-03-0{n} 00:00+00" for n in range(1, 7)]  # the bounds of 5 daily windows
    destination = duckdb_holding(
        tmp_path / "held.duckdb",
        [
            *LOADS,
            "CREATE TABLE coveo_ua._coveo_ua_windows (table_name TEXT, "
            "window_start TIMESTAMPTZ, window_end TIMESTAMPTZ, _dlt_load_id TEXT)",
            "INSERT INTO coveo_ua._coveo_ua_windows VALUES "
            f"('searches', '{day[0]}', '{day[1]}', '1'), "  # checked before: not again
            f"('searches', '{day[1]}', '{day[2]}', '2'), ('searches', '{day[2]}', '{day[3]}', '2'),"
            f"('searches', '{day[3]}', '{day[4]}', '2'), ('clicks', '{day[1]}', '{day[2]}', '2'),"
            f"('searches', '{day[4]}', '{day[5]}', '3')",  # a load that did not complete
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
    checked = utc(2024, 4, 5)  # the margin reaches back to 2024-04-04: load 1 is older
    with destination_view(pipeline_on(tmp_path, destination)) as view:
        damaged, newest = damaged_windows(view, ["searches", "clicks", "groups"], checked)
        everything, _ = damaged_windows(view, ["searches"], None)
    assert damaged == {
        "searches": [
            Window(utc(2024, 3, 3), utc(2024, 3, 4)),
            Window(utc(2024, 3, 4), utc(2024, 3, 5)),
        ]
    }, "a key in two windows is no duplicate; rows outside the checked windows are not judged"
    assert newest == utc(2024, 4, 10), "the next check starts from the newest load checked"
    assert everything["searches"][0] == Window(utc(2024, 3, 1), utc(2024, 3, 2)), (
        "a pipeline never checked before checks every completed load"
    )
