"""Runs that overlap in every way load every row exactly once, on DuckDB and PostgreSQL.

Each round starts real processes at random offsets (``helpers.races``), each a scheduler
task on a machine of its own: the incremental pipeline on two machines, a retry of it
beside them that looks back a day (it merges), and two partitions of a backfill, all
into one dataset. Every job must end 0 (a run waits for its turn), every table must equal
the simulator's ground truth, no export may be left on the service, and the incremental
pipeline's committed position must be where its latest end asked.

``COVEO_UA_RACE_SEEDS=N`` runs N seeds per destination instead of two (CI runs more).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import assert_loaded_match, loaded_tables, utc
from helpers.postgres import drop_datasets, postgres_url
from helpers.races import Job, live_exports, race

from coveo_ua_simulator import Simulator
from coveo_ua_source.runs.holdings import destination_view
from coveo_ua_source.runs.lease import LEASE_TABLE
from coveo_ua_source.runs.plan import positions_from_state
from coveo_ua_source.schema import TABLES

pytestmark = pytest.mark.slow

SEEDS = range(int(os.environ.get("COVEO_UA_RACE_SEEDS", "2")))
START, END = utc(2024, 3, 1), utc(2024, 3, 6)
JOBS = [
    Job("incremental", "2024-03-04"),  # machine A
    Job("incremental", "2024-03-05"),  # machine B: the same pipeline, its own folder
    Job("incremental", "2024-03-05", options={"lookback": "P1D"}),  # a retry that merges
    Job("partition", "2024-03-03", start="2024-03-01"),  # a backfill in two partitions
    Job("partition", "2024-03-06", start="2024-03-03"),
]


@pytest.fixture(params=["duckdb", "postgres", "postgres-lease-table"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Where the racing jobs load: a DuckDB file or a PostgreSQL dataset; on PostgreSQL
    the runs take turns with its advisory lock, or with the lease table that warehouses
    without one use (BigQuery, Snowflake)."""
    dataset = f"race_{uuid.uuid4().hex[:8]}"
    if request.param == "duckdb":
        database = str(tmp_path / "warehouse.duckdb")
        yield {
            "destination": "duckdb", "dataset": dataset,
            "environment": {"DESTINATION__DUCKDB__CREDENTIALS": database},
            "reader": dlt.destinations.duckdb(database), "lease_table": False,
        }  # fmt: skip
        return
    url = postgres_url()
    reader = dlt.destinations.postgres(url)
    environment = {"DESTINATION__POSTGRES__CREDENTIALS": url}
    if request.param == "postgres-lease-table":
        environment["SOURCES__COVEO_UA__COORDINATION"] = "table"
    yield {
        "destination": "postgres", "dataset": dataset, "environment": environment,
        "reader": reader, "lease_table": request.param == "postgres-lease-table",
    }  # fmt: skip
    drop_datasets(reading(reader, dataset, tmp_path / "drop"))


def reading(destination: Any, dataset: str, folder: Path) -> Pipeline:
    return dlt.pipeline(
        pipeline_name="coveo_ua",
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(folder),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_overlapping_runs_load_every_row_once(
    seed: int,
    warehouse: dict[str, Any],
    start_simulator: Callable[..., Simulator],
    tmp_path: Path,
) -> None:
    simulator = start_simulator(searches_per_hour=12, pending_polls=seed % 3)
    raced = race(
        JOBS, seed=seed, simulator=simulator, destination=warehouse["destination"],
        dataset=warehouse["dataset"], folder=tmp_path / "machines",
        environment=warehouse["environment"],
    )  # fmt: skip
    assert raced.failures() == [], "every run waits for its turn and succeeds"
    pipeline = reading(warehouse["reader"], warehouse["dataset"], tmp_path / "reader")
    assert_loaded_match(loaded_tables(pipeline, TABLES), simulator, END, start=START)
    assert live_exports(simulator) == [], "no export is left on the service"
    with destination_view(pipeline) as view:
        committed = view.committed_state()
    assert committed is not None
    positions = positions_from_state(committed.source_state, TABLES)
    assert set(positions.values()) == {END - timedelta(days=1)}, (
        "the incremental position is where its latest run ended, never past a loaded window"
    )
    if warehouse["lease_table"]:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name(LEASE_TABLE)
            rows = client.execute_sql(f"SELECT holder, token FROM {table}")
        assert [tuple(row) for row in rows] == [(None, None)], "every run gave the lease back"
