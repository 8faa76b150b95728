"""Append when new, merge when overlapping: both paths against ground truth (the decision
itself: test_unit_load_path.py; rows of a partition pipeline making the incremental run
merge: test_orchestration.py, which loads partitions for other tests too)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from dlt.pipeline.pipeline import Pipeline
from helpers import END, assert_tables_match, make_source

from coveo_ua_source.schema import TABLES
from coveo_ua_source.simulator import Simulator

DAY = timedelta(days=1)


def dispositions(pipeline: Pipeline) -> set[str]:
    schema = pipeline.default_schema
    return {str(schema.get_table(table)["write_disposition"]) for table in TABLES}


def load_sequence(simulator: Simulator, pipeline: Pipeline) -> list[set[str]]:
    """A first run, a lookback run, an appended run; ground truth after each (the last
    appends after a merge and after earlier loads)."""
    runs: list[tuple[datetime, dict[str, Any]]] = [
        (END, {}),
        (END + DAY, {"lookback": "PT12H"}),
        (END + 2 * DAY, {}),
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
    assert used == [{"append"}, {"merge"}, {"append"}]
