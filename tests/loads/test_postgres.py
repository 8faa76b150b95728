"""End-to-end on PostgreSQL: dlt's postgres destination against the simulator.

Needs a server: COVEO_UA_TEST_POSTGRES=postgresql://coveo:coveo@127.0.0.1:5432/coveo_ua_test
(``bash .ci/postgres.sh`` starts one). Without it the tests skip, except in CI (CI=true),
where they fail. Each pipeline loads into its own dataset (schema), dropped at teardown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import assert_tables_match, make_source
from helpers.load_path import load_sequence
from helpers.postgres import drop_datasets, postgres_url
from helpers.rejected_values import assert_rejected_values_match
from helpers.views import END, START, assert_view_matches, existing_views, truth_rows, view_rows

from coveo_ua_simulator import Simulator
from coveo_ua_source.schema import TABLES
from coveo_ua_source.warehouse.views import VIEWS, create_views, drop_views, view_statements

pytestmark = pytest.mark.postgres


@pytest.fixture
def make_pg_pipeline(tmp_path: Path) -> Iterator[Callable[[], Pipeline]]:
    """PostgreSQL pipelines, each with a dataset of its own that is dropped at teardown."""
    made: list[Pipeline] = []

    def make() -> Pipeline:
        credentials = postgres_url()  # in the test itself, so that a skip or fail is its own
        pipeline = dlt.pipeline(
            pipeline_name="coveo_ua_pg_test",
            destination=dlt.destinations.postgres(credentials=credentials),
            dataset_name=f"coveo_ua_test_{uuid.uuid4().hex[:12]}",
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        drop_datasets(pipeline)


def assert_on_postgres(pipeline: Pipeline) -> None:
    assert pipeline.destination.destination_name == "postgres"
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT version(), current_schema()")
    assert rows, "no answer from the server"
    version, schema = rows[0]
    assert str(version).startswith("PostgreSQL"), version
    assert schema == pipeline.dataset_name


def test_full_then_incremental_load_equal_ground_truth(
    simulator: Simulator, make_pg_pipeline: Callable[[], Pipeline]
) -> None:
    pipeline = make_pg_pipeline()
    pipeline.run(make_source(simulator, end_date=END)).raise_on_failed_jobs()
    assert_on_postgres(pipeline)
    days = (END - START).days
    assert simulator.created_count == days, "one export per day window"
    assert_tables_match(pipeline, simulator, end=END)

    later = END + timedelta(days=1)
    pipeline.run(make_source(simulator, end_date=later)).raise_on_failed_jobs()
    new = list(simulator.exports.values())[days:]
    assert [(export.start, export.end) for export in new] == [(END, later)], (
        "the second run exports only the new day"
    )
    assert_tables_match(pipeline, simulator, end=later)


def test_views_on_postgres(simulator: Simulator, make_pg_pipeline: Callable[[], Pipeline]) -> None:
    pipeline = make_pg_pipeline()
    pipeline.run(make_source(simulator, end_date=END)).raise_on_failed_jobs()
    assert_on_postgres(pipeline)
    assert create_views(pipeline) == list(VIEWS)
    assert create_views(pipeline) == list(VIEWS), "idempotent: dropped and created again"
    assert existing_views(pipeline) == set(VIEWS)
    truth = truth_rows(simulator)
    for session_timezone in (None, "Pacific/Kiritimati", "America/Los_Angeles"):
        assert_view_matches(pipeline, "daily_search_metrics", truth, session_timezone)
    events = view_rows(pipeline, "all_events")
    assert len(events) == sum(len(rows) for rows in truth.values())


def test_printed_sql_for_postgres_makes_the_views(
    simulator: Simulator, make_pg_pipeline: Callable[[], Pipeline]
) -> None:
    """What ``coveo-ua views --print-sql --dialect postgres`` prints, run by hand, twice."""
    pipeline = make_pg_pipeline()
    pipeline.run(make_source(simulator, end_date=END)).raise_on_failed_jobs()
    with pipeline.sql_client() as client:
        for _ in range(2):  # drop-then-create statements can run again
            for _, statements in view_statements("postgres", pipeline.dataset_name):
                for statement in statements:
                    client.execute_sql(statement)
    assert existing_views(pipeline) == set(VIEWS)
    truth = truth_rows(simulator)
    for view in ("all_events", "daily_search_metrics", "top_queries", "custom_events_by_type"):
        assert_view_matches(pipeline, view, truth)


def test_drop_views_lets_dlt_drop_the_tables(
    simulator: Simulator, make_pg_pipeline: Callable[[], Pipeline]
) -> None:
    """PostgreSQL refuses to drop a table that a view reads: drop the views first."""
    pipeline = make_pg_pipeline()
    pipeline.run(make_source(simulator, end_date=END, tables=["clicks"])).raise_on_failed_jobs()
    assert create_views(pipeline) == ["all_events", "average_click_rank"]
    assert drop_views(pipeline) == list(VIEWS)
    assert existing_views(pipeline) == set()
    source = make_source(simulator, end_date=END, tables=["clicks"])
    pipeline.run(source, refresh="drop_sources").raise_on_failed_jobs()
    assert create_views(pipeline) == ["all_events", "average_click_rank"]
    assert_view_matches(pipeline, "average_click_rank", truth_rows(simulator))


def test_typed_dimensions_and_column_comments_on_postgres(
    simulator: Simulator, make_pg_pipeline: Callable[[], Pipeline]
) -> None:
    """Typed c_* columns, rejected values, and every column's description in pg_catalog."""
    pipeline = make_pg_pipeline()
    pipeline.run(make_source(simulator, end_date=END)).raise_on_failed_jobs()
    assert_on_postgres(pipeline)
    assert_tables_match(pipeline, simulator, end=END)
    assert_rejected_values_match(pipeline, simulator, START, END)
    create_views(pipeline)  # writes the comments
    comments = column_comments(pipeline)
    assert comments[("custom_events", "c_cart_value")] == (
        "c_cart_value: custom dimension, NUMBER in Coveo"
    )
    assert comments[("searches", "search_id")] == "Search ID: unique id of the search event (query)"
    for table in TABLES:
        loaded = [c for c in pipeline.default_schema.get_table_columns(table) if c[:4] != "_dlt"]
        missing = [c for c in loaded if not comments.get((table, c))]
        assert not missing, f"{table}: columns without a comment: {missing}"


def column_comments(pipeline: Pipeline) -> dict[tuple[str, str], str | None]:
    sql = """
        SELECT c.table_name, c.column_name,
               col_description(format('%%I.%%I', c.table_schema, c.table_name)::regclass,
                               c.ordinal_position)
        FROM information_schema.columns c WHERE c.table_schema = %s
    """
    with pipeline.sql_client() as client:
        rows = client.execute_sql(sql, pipeline.dataset_name)
    return {(table, column): comment for table, column, comment in rows or []}


def test_appends_new_windows_and_merges_a_lookback_on_postgres(
    simulator: Simulator, make_pg_pipeline: Callable[[], Pipeline]
) -> None:
    used = load_sequence(simulator, make_pg_pipeline())
    assert used == [{"append"}, {"merge"}, {"append"}]
