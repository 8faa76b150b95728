"""`plan_load` plans what the next load would: including the windows it would repair."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import END, START, TOKEN, expected_rows, make_source

from coveo_ua_simulator import Simulator
from coveo_ua_source import plan_load
from coveo_ua_source.exports.windows import PlannedExport

DAMAGED_START = END - timedelta(days=1)


def _duplicate_window(pipeline: Pipeline, table: str, start: object, end: object) -> None:
    """What a load killed after its commit and then resumed leaves: rows inserted twice."""
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(table)
        client.execute_sql(
            f"INSERT INTO {name} SELECT * FROM {name} WHERE datetime >= %s AND datetime < %s",
            start,
            end,
        )


@dataclass(frozen=True)
class Plans:
    """Two days of searches loaded once; the plans made before and after one day's rows
    were inserted twice, and the exports created meanwhile."""

    simulator: Simulator
    undamaged: list[PlannedExport]
    damaged: list[PlannedExport]
    created_by_plans: int


def _plan(simulator: Simulator, pipeline: Pipeline) -> list[PlannedExport]:
    return plan_load(
        TOKEN, base_url=simulator.api_root, start_date=START, end_date=END,
        tables=["searches"], pipeline=pipeline,
    )  # fmt: skip


@pytest.fixture(scope="module")
def plans(module_simulator: Simulator, module_pipelines: Callable[..., Pipeline]) -> Plans:
    """Read only: one load for the module's tests; the damage is done after the first plan."""
    simulator, pipeline = module_simulator, module_pipelines("coveo_ua_dry_run")
    pipeline.run(make_source(simulator, tables=["searches"])).raise_on_failed_jobs()
    created = simulator.created_count
    undamaged = _plan(simulator, pipeline)
    _duplicate_window(pipeline, "searches", DAMAGED_START, END)
    damaged = _plan(simulator, pipeline)
    return Plans(simulator, undamaged, damaged, simulator.created_count - created)


@pytest.mark.xdist_group("dry_run_plans")  # one worker loads it once
def test_plan_load_shows_the_windows_the_next_load_repairs(plans: Plans) -> None:
    assert plans.created_by_plans == 0, "a dry run creates nothing"
    assert [(p.window.start, p.window.end, p.tables) for p in plans.damaged] == [
        (DAMAGED_START, END, ("searches",))
    ], "everything is loaded, so the plan is the damaged window alone"
    truth = expected_rows(plans.simulator, "searches", DAMAGED_START, END)
    assert truth, "the simulator produced no rows in the window; the test proves nothing"
    assert plans.damaged[0].estimates["searches"] == len(truth)


@pytest.mark.xdist_group("dry_run_plans")
def test_plan_load_without_damage_plans_nothing_once_loaded(plans: Plans) -> None:
    assert plans.undamaged == []
