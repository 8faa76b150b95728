"""Append when new, merge when overlapping: the decision, and both paths against ground truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import utc
from test_pipeline import END, assert_tables_match, make_source

from coveo_ua_source.exports.windows import PlannedExport, Window
from coveo_ua_source.runs.load_path import UNKNOWN_EXTENT, appending_tables
from coveo_ua_source.runs.repair import with_repairs
from coveo_ua_source.schema import TABLES, TTable
from coveo_ua_source.simulator import Simulator

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


def dispositions(pipeline: Pipeline) -> set[str]:
    schema = pipeline.default_schema
    return {str(schema.get_table(table)["write_disposition"]) for table in TABLES}


def load_sequence(simulator: Simulator, pipeline: Pipeline) -> list[set[str]]:
    """Appended runs, a lookback run, an appended run; ground truth after each."""
    runs: list[tuple[datetime, dict[str, Any]]] = [
        (END, {}),
        (END + DAY, {}),
        (END + 2 * DAY, {"lookback": "PT12H"}),
        (END + 3 * DAY, {}),
    ]
    used = []
    for end, options in runs:
        pipeline.run(make_source(simulator, end_date=end, **options)).raise_on_failed_jobs()
        used.append(dispositions(pipeline))
        assert_tables_match(pipeline, simulator, end=end)
    return used


def test_appends_new_windows_and_merges_a_lookback_on_duckdb(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    used = load_sequence(simulator, make_pipeline("coveo_ua_load_path"))
    assert used == [{"append"}, {"append"}, {"merge"}, {"append"}]


def shared_dataset_pipeline(tmp_path: Path, name: str) -> Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / "shared.duckdb")),
        dataset_name="coveo_ua",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def test_rows_of_a_partition_pipeline_make_the_incremental_run_merge(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A partition backfill loaded ahead of the incremental position into the same dataset."""
    incremental = shared_dataset_pipeline(tmp_path, "coveo_ua_incremental")
    incremental.run(make_source(simulator)).raise_on_failed_jobs()
    partition = shared_dataset_pipeline(tmp_path, "coveo_ua_partition")
    ahead = make_source(simulator, start_date=END, end_date=END + DAY, partition=True)
    partition.run(ahead).raise_on_failed_jobs()
    assert dispositions(partition) == {"merge"}, "partition mode always merges"
    incremental.run(make_source(simulator, end_date=END + 2 * DAY)).raise_on_failed_jobs()
    assert dispositions(incremental) == {"merge"}, "its windows overlap the partition's"
    assert_tables_match(incremental, simulator, end=END + 2 * DAY)


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
