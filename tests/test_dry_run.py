"""`plan_load` plans what the next load would: including the windows it would repair."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dlt.pipeline.pipeline import Pipeline
from helpers import TOKEN, expected_rows
from test_pipeline import END, START, make_source

from coveo_ua_source import plan_load
from coveo_ua_source.simulator import Simulator


def _duplicate_window(pipeline: Pipeline, table: str, start: object, end: object) -> None:
    """What a load killed after its commit and then resumed leaves: rows inserted twice."""
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(table)
        client.execute_sql(
            f"INSERT INTO {name} SELECT * FROM {name} WHERE datetime >= %s AND datetime < %s",
            start,
            end,
        )


def test_plan_load_shows_the_windows_the_next_load_repairs(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline("coveo_ua_dry_run_repair")
    pipeline.run(make_source(simulator, tables=["searches"])).raise_on_failed_jobs()
    damaged_start = END - timedelta(days=1)
    _duplicate_window(pipeline, "searches", damaged_start, END)
    created = simulator.created_count
    plan = plan_load(
        TOKEN, base_url=simulator.api_root, start_date=START, end_date=END,
        tables=["searches"], pipeline=pipeline,
    )  # fmt: skip
    assert simulator.created_count == created, "a dry run creates nothing"
    assert [(p.window.start, p.window.end, p.tables) for p in plan] == [
        (damaged_start, END, ("searches",))
    ], "everything is loaded, so the plan is the damaged window alone"
    truth = expected_rows(simulator, "searches", damaged_start, END)
    assert truth, "the simulator produced no rows in the window; the test proves nothing"
    assert plan[0].estimates["searches"] == len(truth)


def test_plan_load_without_damage_plans_nothing_once_loaded(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline("coveo_ua_dry_run_clean")
    pipeline.run(make_source(simulator, tables=["searches"])).raise_on_failed_jobs()
    plan = plan_load(
        TOKEN, base_url=simulator.api_root, start_date=START, end_date=END,
        tables=["searches"], pipeline=pipeline,
    )  # fmt: skip
    assert plan == []
