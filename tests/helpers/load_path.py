"""A load sequence that takes both write paths (append when new, merge when a lookback
overlaps), checked against the ground truth after each run; shared by the DuckDB and
PostgreSQL tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from coveo_ua_source.schema import TABLES
from coveo_ua_source.simulator import Simulator
from helpers import END, assert_tables_match, make_source

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
