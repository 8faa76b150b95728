"""Append when new, merge when overlapping: both paths against ground truth (the decision
itself: test_unit_load_path.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
from dlt.pipeline.pipeline import Pipeline
from helpers import END, assert_tables_match, make_source

from coveo_ua_source.schema import TABLES
from coveo_ua_source.simulator import Simulator

DAY = timedelta(days=1)


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
