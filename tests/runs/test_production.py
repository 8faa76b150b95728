"""Runs as orchestrators make them: fresh workers, a source run twice, dropped resources,
and an end_date in the future under an injected clock (partitions beside an incremental
pipeline: test_orchestration.py).

Every test loads into one DuckDB file; a "fresh worker" is a new, empty pipelines folder,
so dlt restores the pipeline's state from the destination, as on a new Airflow worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.pipeline.helpers import pipeline_drop
from dlt.pipeline.pipeline import Pipeline
from helpers import (
    START,
    TOKEN,
    MovableClock,
    assert_loaded_match,
    duckdb_path,
    loaded_tables,
    make_source,
    utc,
)
from helpers.copies import copy_loaded_pipeline
from helpers.open_database import database_kept_open, databases_kept_open
from helpers.pipelines import pipelines_in

from coveo_ua_simulator import Simulator, SimulatorConfig, ground_truth
from coveo_ua_source import clock, plan_load
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.schema import TABLES, TTable
from coveo_ua_source.warehouse.bookkeeping import BOOKKEEPING_RESOURCE

DAY = timedelta(days=1)


# Tests that read one module-scoped load run on one xdist worker, so the load is made once.
READS_FRESH_WORKERS = pytest.mark.xdist_group("production_fresh_workers")
WAREHOUSE = "warehouse.duckdb"


@pytest.fixture
def on_worker(tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    with database_kept_open(tmp_path / WAREHOUSE):  # helpers/open_database.py
        yield workers_in(tmp_path)


def workers_in(folder: Path) -> Callable[..., Pipeline]:
    """Make a pipeline on a worker's pipelines folder, loading into the shared DuckDB file."""

    def make(worker: str, name: str = "coveo_ua_prod") -> Pipeline:
        return dlt.pipeline(
            pipeline_name=name,
            destination=dlt.destinations.duckdb(str(folder / WAREHOUSE)),
            dataset_name="coveo_ua",
            pipelines_dir=str(folder / worker),
        )

    return make


def windows_created(simulator: Simulator, before: set[str]) -> list[tuple[datetime, datetime]]:
    return sorted((e.start, e.end) for i, e in simulator.exports.items() if i not in before)


def assert_like_ground_truth(
    pipeline: Pipeline, simulator: Simulator, end: datetime, tables: tuple[TTable, ...] = TABLES
) -> None:
    assert_loaded_match(loaded_tables(pipeline, tables), simulator, end)


def windows_table(pipeline: Pipeline) -> list[tuple[Any, ...]]:
    with duckdb.connect(duckdb_path(pipeline)) as connection:
        sql = (
            "SELECT table_name, window_start, window_end FROM "
            f"{pipeline.dataset_name}._coveo_ua_windows ORDER BY 1, 2"
        )
        return [tuple(row) for row in connection.execute(sql).fetchall()]


@dataclass(frozen=True)
class WorkerRun:
    """One run on a fresh worker: the windows it exported, whether every export made before
    it was deleted by it, and whether its own exports were all still there after it."""

    created: list[tuple[datetime, datetime]]
    deleted_earlier: bool
    kept_its_own: bool


@dataclass(frozen=True)
class FreshWorkers:
    simulator: Simulator
    runs: list[WorkerRun]
    plan: list[PlannedExport]  # made on a fresh worker after the first run
    created_by_planning: int
    rows: dict[TTable, list[dict[str, Any]]]  # read on a fresh worker after the last run


FRESH_WORKER_ENDS = [START + 2 * DAY, START + 3 * DAY, START + 3 * DAY]


@pytest.fixture(scope="module")
def fresh_workers(
    module_pipelines: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FreshWorkers]:
    """Read only: three runs of one pipeline, each on a fresh worker, and a plan made on
    a fourth between the first two, made once for the module (``module_pipelines`` keeps
    the user's dlt config out, as for every test)."""
    folder = tmp_path_factory.mktemp("workers")
    on_worker = workers_in(folder)
    kept_open = database_kept_open(folder / WAREHOUSE)
    with Simulator(SimulatorConfig(token=TOKEN)) as simulator, kept_open:
        runs = [_run_on(on_worker("worker0"), simulator, FRESH_WORKER_ENDS[0])]
        created = simulator.created_count
        plan = plan_load(
            TOKEN, base_url=simulator.api_root, start_date=START, end_date=FRESH_WORKER_ENDS[1],
            pipeline=on_worker("planner"),
        )  # fmt: skip
        planned_created = simulator.created_count - created
        for run, end in enumerate(FRESH_WORKER_ENDS[1:], start=1):
            runs.append(_run_on(on_worker(f"worker{run}"), simulator, end))
        rows = loaded_tables(on_worker("worker-check"), TABLES)
        yield FreshWorkers(simulator, runs, plan, planned_created, rows)


def _run_on(pipeline: Pipeline, simulator: Simulator, end: datetime) -> WorkerRun:
    before = set(simulator.exports)
    pipeline.run(make_source(simulator, end_date=end)).raise_on_failed_jobs()
    own = set(simulator.exports) - before
    return WorkerRun(
        windows_created(simulator, before),
        all(simulator.exports[export_id].deleted for export_id in before),
        not any(simulator.exports[export_id].deleted for export_id in own),
    )


@READS_FRESH_WORKERS
def test_fresh_workers_export_each_window_once_and_delete_earlier_exports(
    fresh_workers: FreshWorkers,
) -> None:
    for run, seen in enumerate(fresh_workers.runs):
        assert seen.deleted_earlier, f"run {run} deleted earlier exports"
        assert seen.kept_its_own, "a run keeps its own exports until a later run sees them loaded"
    assert [seen.created for seen in fresh_workers.runs] == [
        [(START, START + DAY), (START + DAY, START + 2 * DAY)],
        [(START + 2 * DAY, START + 3 * DAY)],
        [],
    ]
    assert_loaded_match(fresh_workers.rows, fresh_workers.simulator, FRESH_WORKER_ENDS[-1])


@READS_FRESH_WORKERS
def test_plan_on_a_fresh_worker_plans_what_load_does(fresh_workers: FreshWorkers) -> None:
    plan = fresh_workers.plan
    assert [(p.window.start, p.window.end, p.tables) for p in plan] == [
        (START + 2 * DAY, START + 3 * DAY, TABLES)
    ]
    assert fresh_workers.created_by_planning == 0
    loader = fresh_workers.runs[1]  # the next run, on another fresh worker
    assert loader.created == [(p.window.start, p.window.end) for p in plan]


READS_ONE_SOURCE = pytest.mark.xdist_group("production_one_source")


@dataclass(frozen=True)
class OneSource:
    """One source object run by two pipelines into two DuckDB files, in ``folder`` (the
    layout of ``module_pipelines``: copy ``coveo_ua_first`` to run on from there)."""

    simulator: Simulator
    folder: Path
    created_count: int
    rows: dict[str, dict[TTable, list[dict[str, Any]]]]  # by pipeline name


@pytest.fixture(scope="module")
def one_source(
    module_pipelines: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OneSource]:
    """Read only (or copied): the two runs of ``OneSource``, made once for the module."""
    folder = tmp_path_factory.mktemp("one_source")
    with Simulator(SimulatorConfig(token=TOKEN)) as simulator, databases_kept_open() as held:
        source = make_source(simulator)
        make = pipelines_in(folder, held)
        pipelines = [make(name) for name in ("coveo_ua_first", "coveo_ua_second")]
        for pipeline in pipelines:
            pipeline.run(source).raise_on_failed_jobs()
        rows = {p.pipeline_name: loaded_tables(p, TABLES) for p in pipelines}
        yield OneSource(simulator, folder, simulator.created_count, rows)


@READS_ONE_SOURCE
def test_the_same_source_object_runs_twice(one_source: OneSource) -> None:
    for name, rows in one_source.rows.items():
        assert set(rows) == set(TABLES), name
        assert_loaded_match(rows, one_source.simulator, START + 2 * DAY)
    assert one_source.created_count == 4, "one export per window for each pipeline"


@READS_ONE_SOURCE
def test_drop_one_resource_then_run_exports_that_table_only(
    one_source: OneSource, make_pipeline: Callable[..., Pipeline], tmp_path: Path
) -> None:
    simulator = one_source.simulator
    copy_loaded_pipeline(one_source.folder, tmp_path, "coveo_ua_first")
    pipeline = make_pipeline("coveo_ua_first")
    tables = pipeline.default_schema.tables
    assert tables["_coveo_ua_windows"]["resource"] == BOOKKEEPING_RESOURCE
    assert tables["_coveo_ua_rejected_rows"]["resource"] == BOOKKEEPING_RESOURCE
    pipeline_drop(pipeline, resources=["clicks"])()
    assert "clicks" not in pipeline.default_schema.tables
    kept = [row for row in windows_table(pipeline) if row[0] != "clicks"]
    assert len(kept) == (len(TABLES) - 1) * 2, "the other tables' bookkeeping is untouched"

    before = set(simulator.exports)
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    new = [simulator.exports[i] for i in set(simulator.exports) - before]
    assert sorted(e.start for e in new) == [START, START + DAY]
    assert {e.tables for e in new} == {("clicks",)}, "only clicks is exported again"
    assert len(windows_table(pipeline)) == len(TABLES) * 2
    assert_like_ground_truth(pipeline, simulator, START + 2 * DAY)


def test_partition_needs_an_end_date(simulator: Simulator) -> None:
    from coveo_ua_source import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"partition=True .* end_date"):
        make_source(simulator, end_date=None, partition=True)


def test_a_future_end_date_is_capped_and_the_next_run_loads_what_arrived(
    start_simulator: Callable[..., Simulator],
    on_worker: Callable[..., Pipeline],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = MovableClock(utc(2024, 3, 2, 10, 30))
    monkeypatch.setattr(clock, "utc_now", now)
    simulator = start_simulator(clock=now)
    end = START + 3 * DAY
    settled = utc(2024, 3, 2, 9)  # the last whole hour at least settle_delay=PT1H before now
    pipeline = on_worker("w")
    with caplog.at_level(logging.WARNING, logger="coveo_ua_source"):
        pipeline.run(make_source(simulator, end_date=end)).raise_on_failed_jobs()
    assert "end_date 2024-03-04T00:00:00.000Z is later than the settled present " in caplog.text
    assert "2024-03-02T09:00:00.000Z" in caplog.text
    assert max(row[2] for row in windows_table(pipeline)).replace(tzinfo=settled.tzinfo) == settled
    positions = pipeline.state["sources"]["coveo_ua"]["resources"]
    assert {positions[table]["last_end"] for table in TABLES} == {settled.isoformat()}
    assert_like_ground_truth(pipeline, simulator, settled)
    arrived = ground_truth(simulator.config, "searches", settled, end, now=now.now)
    assert arrived, "rows exist after the settled present: the cap is what keeps them out"

    now.now = utc(2024, 3, 5)
    before = set(simulator.exports)
    pipeline.run(make_source(simulator, end_date=end)).raise_on_failed_jobs()
    assert windows_created(simulator, before) == [
        (settled, START + 2 * DAY),
        (START + 2 * DAY, end),
    ]
    assert_like_ground_truth(pipeline, simulator, end)


def test_cli_plan_on_a_fresh_worker_starts_where_the_destination_says(
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from coveo_ua_source.cli.main import main

    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "cli.duckdb"))
    monkeypatch.setenv("SOURCES__COVEO_UA__POLL_INTERVAL", "0.01")
    common = ["--base-url", simulator.api_root, "--start-date", "2024-03-01", "--tables", "groups"]
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "first-worker"))
    loaded = main(["load", *common, "--end-date", "2024-03-03", "--no-progress", "--no-views"])
    assert loaded == 0
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "fresh-worker"))
    capsys.readouterr()
    assert main(["plan", *common, "--end-date", "2024-03-04", "--windows"]) == 0
    output = capsys.readouterr().out
    assert "1 export(s) planned" in output
    assert "[2024-03-03T00:00:00.000Z, 2024-03-04T00:00:00.000Z)" in output
