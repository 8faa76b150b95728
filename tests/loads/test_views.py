"""The SQL views on DuckDB, every number checked against one computed from the ground truth.

The expected rows are computed in Python from ``ground_truth`` rows (helpers/views.py,
shared with test_postgres.py), following the definitions in
``coveo_ua_source/warehouse/views.py``; never from the same SQL. Three days are loaded once
for the module's tests; a test that changes the dataset changes a copy of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import make_source
from helpers.copies import copy_loaded_pipeline
from helpers.views import (
    DAY_VIEWS,
    END,
    EVENT_KINDS,
    EVENT_TABLES,
    EXPECTED,
    TIMEZONES,
    Rows,
    assert_view_equal,
    assert_view_matches,
    existing_views,
    expected_all_events,
    truth_rows,
    utc_day,
    view_rows,
)

from coveo_ua_simulator import Simulator
from coveo_ua_source.schema import TTable
from coveo_ua_source.warehouse.views import VIEWS, create_views, drop_views, view_statements

# Tests that read one module-scoped load run on one xdist worker, so the load is made once.
READS_THREE_DAYS = pytest.mark.xdist_group("views_three_days")
READS_SEARCHES_THEN_CLICKS = pytest.mark.xdist_group("views_searches_then_clicks")


@dataclass(frozen=True)
class Loaded:
    """A pipeline with three simulated days loaded and the views created."""

    pipeline: Pipeline
    truth: dict[TTable, Rows]
    views: list[str]


def load_three_days(simulator: Simulator, pipeline: Pipeline) -> Loaded:
    pipeline.run(make_source(simulator, end_date=END)).raise_on_failed_jobs()
    return Loaded(pipeline, truth_rows(simulator), create_views(pipeline))


@pytest.fixture(scope="module")
def loaded(module_simulator: Simulator, module_pipelines: Callable[..., Pipeline]) -> Loaded:
    """Read only: loaded once for the module."""
    return load_three_days(module_simulator, module_pipelines("coveo_ua_views"))


@pytest.fixture
def own_loaded(loaded: Loaded, make_pipeline: Callable[..., Pipeline], tmp_path: Path) -> Loaded:
    """A copy of the module's load in tmp_path, views made, for a test that changes it."""
    name = loaded.pipeline.pipeline_name
    copy_loaded_pipeline(Path(loaded.pipeline.pipelines_dir).parent, tmp_path, name)
    return replace(loaded, pipeline=make_pipeline(name))


@READS_THREE_DAYS
def test_every_view_is_created_in_the_dataset(loaded: Loaded) -> None:
    assert loaded.views == list(VIEWS)
    assert existing_views(loaded.pipeline) == set(VIEWS)
    assert loaded.pipeline.destination.destination_name == "duckdb"


@READS_THREE_DAYS
@pytest.mark.parametrize("view", list(EXPECTED))
def test_view_equals_ground_truth(loaded: Loaded, view: str) -> None:
    assert_view_matches(loaded.pipeline, view, loaded.truth)


@READS_THREE_DAYS
def test_all_events_counts_every_event(loaded: Loaded) -> None:
    rows = view_rows(loaded.pipeline, "all_events")
    assert len(rows) == sum(len(loaded.truth[table]) for table in EVENT_TABLES)
    for table, kind in EVENT_KINDS.items():
        assert sum(1 for row in rows if row["event_type"] == kind) == len(loaded.truth[table])


@READS_THREE_DAYS
def test_all_events_sorted_like_coveos_sample_client(loaded: Loaded) -> None:
    """The documented query: ORDER BY visit_id, datetime (event_id only breaks ties)."""
    with loaded.pipeline.sql_client() as client:
        name = client.make_qualified_table_name("all_events")
        got = client.execute_sql(
            f"SELECT event_id FROM {name} ORDER BY visit_id, datetime, event_id"
        )
    events = expected_all_events(loaded.truth)
    events.sort(key=lambda row: (row["visit_id"], row["datetime"], row["event_id"]))
    assert [row[0] for row in got or []] == [row["event_id"] for row in events]


@READS_THREE_DAYS
@pytest.mark.parametrize("session_timezone", TIMEZONES)
def test_days_are_utc_whatever_the_session_timezone(loaded: Loaded, session_timezone: str) -> None:
    zone = ZoneInfo(session_timezone)
    stamps = [row["datetime"] for row in loaded.truth["searches"]]
    assert any(stamp.astimezone(zone).date() != utc_day(stamp) for stamp in stamps), (
        "no event falls on another date in this zone: the test proves nothing"
    )
    for view in DAY_VIEWS:
        assert_view_matches(loaded.pipeline, view, loaded.truth, session_timezone)


@READS_THREE_DAYS
def test_create_views_twice_then_a_later_load(
    own_loaded: Loaded, module_simulator: Simulator
) -> None:
    loaded, simulator = own_loaded, module_simulator
    assert existing_views(loaded.pipeline) == set(loaded.views), "the copy has the views"
    assert create_views(loaded.pipeline) == loaded.views, "create_views is idempotent"
    assert create_views(loaded.pipeline) == loaded.views
    later = END + timedelta(days=1)
    loaded.pipeline.run(make_source(simulator, end_date=later)).raise_on_failed_jobs()
    truth = truth_rows(simulator, later)
    assert len(truth["searches"]) > len(loaded.truth["searches"])
    for view in ("all_events", "daily_search_metrics"):  # views read the tables live
        assert_view_matches(loaded.pipeline, view, truth)


@READS_THREE_DAYS
def test_printed_sql_for_duckdb_makes_the_same_views(own_loaded: Loaded) -> None:
    """What ``coveo-ua views --print-sql --dialect duckdb`` prints, run by hand."""
    pipeline = own_loaded.pipeline
    drop_views(pipeline)
    assert existing_views(pipeline) == set()
    with pipeline.sql_client() as client:
        for _, statements in view_statements("duckdb", pipeline.dataset_name):
            for statement in statements:
                client.execute_sql(statement)
    assert existing_views(pipeline) == set(VIEWS)
    for view in EXPECTED:
        assert_view_matches(pipeline, view, own_loaded.truth)


@dataclass(frozen=True)
class Grown:
    """Views made after each run of a pipeline that loads searches, then searches and
    clicks: what create_views answered, the views in the dataset, and their rows."""

    created: list[str]
    existing: set[str]
    rows: dict[str, Rows]


@pytest.fixture(scope="module")
def searches_then_clicks(
    module_simulator: Simulator, module_pipelines: Callable[..., Pipeline]
) -> list[Grown]:
    """Read only: the two runs, made once for the module."""
    pipeline = module_pipelines("coveo_ua_views_grown")
    grown = []
    for tables in (["searches"], ["searches", "clicks"]):
        source = make_source(module_simulator, end_date=END, tables=tables)
        pipeline.run(source).raise_on_failed_jobs()
        created = create_views(pipeline)
        rows = {view: view_rows(pipeline, view) for view in created}
        grown.append(Grown(created, existing_views(pipeline), rows))
    return grown


def assert_rows_match_view(rows: Rows, view: str, truth: dict[TTable, Rows]) -> None:
    expected, key = EXPECTED[view]
    assert_view_equal(rows, expected(truth), view, key)


@READS_SEARCHES_THEN_CLICKS
def test_only_searches_loaded_makes_only_the_views_it_can(
    module_simulator: Simulator, searches_then_clicks: list[Grown]
) -> None:
    searches_only = searches_then_clicks[0]
    assert searches_only.created == ["all_events", "zero_result_queries"]
    assert searches_only.existing == {"all_events", "zero_result_queries"}
    truth = truth_rows(module_simulator) | {"clicks": [], "custom_events": []}
    assert_rows_match_view(searches_only.rows["all_events"], "all_events", truth)
    assert_rows_match_view(searches_only.rows["zero_result_queries"], "zero_result_queries", truth)


def test_columns_not_loaded_read_as_typed_nulls(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    """Only ids, datetime and the chosen `dimensions` are loaded; the rest reads as NULL."""
    pipeline = make_pipeline()
    source = make_source(
        simulator, end_date=END, tables=["clicks", "custom_events"], dimensions=["clickRank"]
    )
    pipeline.run(source).raise_on_failed_jobs()
    schema = pipeline.default_schema
    assert set(schema.get_table_columns("custom_events")) == {"custom_event_id", "datetime"}
    views = ["all_events", "average_click_rank", "custom_events_by_type"]
    assert create_views(pipeline) == views
    truth = truth_rows(simulator)
    loaded_truth: dict[TTable, Rows] = {"searches": []}
    for table in ("clicks", "custom_events"):
        columns = schema.get_table_columns(table)
        loaded_truth[table] = [
            {name: value if name in columns else None for name, value in row.items()}
            for row in truth[table]
        ]
    for view in views:
        assert_view_matches(pipeline, view, loaded_truth)
    assert {row["visits"] for row in view_rows(pipeline, "custom_events_by_type")} == {0}


@READS_SEARCHES_THEN_CLICKS
def test_views_follow_the_tables_loaded_later(
    module_simulator: Simulator, searches_then_clicks: list[Grown]
) -> None:
    with_clicks = searches_then_clicks[1]
    assert with_clicks.created == list(VIEWS)[:-1], "all but custom_events_by_type"
    truth = truth_rows(module_simulator) | {"custom_events": []}
    for view in list(VIEWS)[:-1]:
        assert_rows_match_view(with_clicks.rows[view], view, truth)


@READS_THREE_DAYS
def test_drop_views_removes_them(own_loaded: Loaded) -> None:
    pipeline = own_loaded.pipeline
    assert existing_views(pipeline) == set(VIEWS), "the copy has every view"
    assert drop_views(pipeline) == list(VIEWS)
    assert existing_views(pipeline) == set()
    assert drop_views(pipeline) == list(VIEWS), "dropping again is not an error"


def test_nothing_loaded_makes_no_view(make_pipeline: Callable[..., Pipeline]) -> None:
    assert create_views(make_pipeline()) == []
