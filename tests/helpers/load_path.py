"""A load sequence that takes both write paths (append when new, merge when a lookback
overlaps), checked against the ground truth after each run, for the PostgreSQL test (on
DuckDB, test_pipeline.py's incremental runs take the same paths); and the dispositions a
run gave the tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from coveo_ua_simulator import Simulator
from coveo_ua_source.schema import TABLES
from helpers import END, assert_tables_match, make_source

DAY = timedelta(days=1)


def dispositions(pipeline: Pipeline, tables: Sequence[str] = TABLES) -> set[str]:
    """The write dispositions that the last run gave ``tables``."""
    schema = pipeline.default_schema
    return {str(schema.get_table(table)["write_disposition"]) for table in tables}


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
