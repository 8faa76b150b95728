"""`coveo-ua demo`: a full load from the local simulator into a DuckDB file.

Three runs show the incremental behaviour: a first load of six days, a second run one
day later that exports only the new day, and a third run with nothing new that creates
no export. Everything printed is SIMULATED data, never real Coveo data. The simulator is a
program of its own (``python -m coveo_ua_simulator``): the demo starts it as a child
process, as a user would, and talks to it over HTTP only.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt

from coveo_ua_source.exports.types import ProgressEvent
from coveo_ua_source.recipe import run_load
from coveo_ua_source.schema import TABLES
from coveo_ua_source.source import coveo_ua_source
from coveo_ua_source.warehouse.dimension_catalog import REJECTED_VALUES_TABLE
from coveo_ua_source.warehouse.views import drop_views

DEMO_START = datetime(2024, 6, 1, tzinfo=UTC)
DEMO_DAYS = 6

TOP_QUERIES_SQL = """
SELECT query, searches, round(click_through_rate, 3) AS click_through_rate
FROM {dataset}.top_queries
ORDER BY searches DESC, query LIMIT 5
"""


@dataclass(frozen=True)
class DemoRun:
    """What one pipeline run of the demo did."""

    label: str
    end: datetime
    exports_created: int
    rows: dict[str, int]


def demo_pipeline(database: Path, pipelines_dir: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="coveo_ua_demo",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="usage_analytics",
        pipelines_dir=str(pipelines_dir),
    )


DEMO_TOKEN = "coveo-ua-demo"  # noqa: S105 - the local simulator's, for this run only


def run_demo(database: Path, pipelines_dir: Path) -> tuple[list[DemoRun], dlt.Pipeline]:
    """Load the simulated data in three runs; return what each did."""
    pipeline = demo_pipeline(database, pipelines_dir)
    runs: list[DemoRun] = []
    with simulator_process(DEMO_TOKEN) as api_root:
        schedule = [
            ("first load", DEMO_START + timedelta(days=DEMO_DAYS - 1), "drop_sources"),
            ("next day", DEMO_START + timedelta(days=DEMO_DAYS), None),
            ("rerun, nothing new", DEMO_START + timedelta(days=DEMO_DAYS), None),
        ]
        for label, end, refresh in schedule:
            created: list[str | None] = []
            source = coveo_ua_source(
                access_token=DEMO_TOKEN,
                base_url=api_root,
                start_date=DEMO_START,
                end_date=end,
                poll_interval=0.05,
                progress=functools.partial(_note_created, created),
            )
            if refresh and pipeline.schema_names:
                drop_views(pipeline)  # PostgreSQL-style engines refuse to drop viewed tables
            run_load(pipeline, source, refresh=refresh, access_token=DEMO_TOKEN,
                     base_url=api_root)  # fmt: skip
            runs.append(DemoRun(label, end, len(created), _rows_in_last_run(pipeline)))
    return runs, pipeline


def _note_created(created: list[str | None], event: ProgressEvent) -> None:
    if event.kind == "created":
        created.append(event.export_id)


@contextmanager
def simulator_process(token: str) -> Iterator[str]:
    """``python -m coveo_ua_simulator`` on a free loopback port; yields its api_root."""
    command = [sys.executable, "-m", "coveo_ua_simulator", "--port", "0", "--token", token]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            yield _announced_api_root(process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _announced_api_root(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("api_root: "):
            return line.removeprefix("api_root: ").strip()
    raise RuntimeError(
        f"the simulator exited with code {process.wait()} before it served; run "
        "`python -m coveo_ua_simulator --port 0` to see why"
    )


def _rows_in_last_run(pipeline: dlt.Pipeline) -> dict[str, int]:
    trace = pipeline.last_trace
    counts: dict[str, int] = {}
    if trace is None or trace.last_normalize_info is None:
        return counts
    for table, count in trace.last_normalize_info.row_counts.items():
        if table in TABLES:
            counts[table] = count
    return counts


def table_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows in each loaded table of the destination."""
    counts: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in TABLES:
            name = client.make_qualified_table_name(table)
            rows = client.execute_sql(f"SELECT count(*) FROM {name}")  # noqa: S608
            counts[table] = int(rows[0][0]) if rows else 0
    return counts


def top_queries(pipeline: dlt.Pipeline) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        sql = TOP_QUERIES_SQL.format(dataset=client.fully_qualified_dataset_name())
        return [tuple(row) for row in client.execute_sql(sql) or []]


def custom_dimension_rows(pipeline: dlt.Pipeline) -> list[tuple[str, str, int, int]]:
    """(table.column, loaded type, non-NULL values, rejected values) per custom dimension."""
    schema = pipeline.default_schema
    rejected = _rejected_value_counts(pipeline)
    out: list[tuple[str, str, int, int]] = []
    with pipeline.sql_client() as client:
        for table in TABLES:
            if table not in schema.tables:
                continue
            for name, column in schema.get_table_columns(table).items():
                if not name.startswith("c_") or column.get("data_type") is None:
                    continue
                sql = (
                    f"SELECT count({client.escape_column_name(name)}) "  # noqa: S608
                    f"FROM {client.make_qualified_table_name(table)}"
                )
                values = int((client.execute_sql(sql) or [(0,)])[0][0])
                key = (table, name)
                out.append(
                    (f"{table}.{name}", str(column["data_type"]), values, rejected.get(key, 0))
                )
    return out


def _rejected_value_counts(pipeline: dlt.Pipeline) -> dict[tuple[str, str], int]:
    if REJECTED_VALUES_TABLE not in pipeline.default_schema.tables:
        return {}
    with pipeline.sql_client() as client:
        sql = (
            "SELECT table_name, column_name, count(*) FROM "  # noqa: S608
            f"{client.make_qualified_table_name(REJECTED_VALUES_TABLE)} GROUP BY 1, 2"
        )
        return {(t, c): int(n) for t, c, n in client.execute_sql(sql) or []}
