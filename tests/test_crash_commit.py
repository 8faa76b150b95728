"""The crash window of a load job: killed after the destination committed it, before dlt
recorded it. The resumed package runs the job again, which leaves a window's rows twice
(appended twice, or staged twice and merged with both copies); the next run finds those
windows and loads them again with a merge, after which every table equals the ground truth.

Each test kills tests/crash_driver.py (``--kill-after-commit``) at exactly that point, on
the append path (new windows) and on the merge path (a lookback), on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dlt
import pytest
from crash_driver import PIPELINE_NAME
from dlt.pipeline.pipeline import Pipeline
from helpers.crash import WAIT, WINDOWS, Driver, assert_loaded_like_ground_truth
from helpers.postgres import drop_datasets, postgres_url

from coveo_ua_source.simulator import Simulator

pytestmark = pytest.mark.slow


@dataclass
class PostgresDriver(Driver):
    """The driver loading into a PostgreSQL dataset of its own."""

    url: str = ""
    dataset: str = ""

    def pipeline(self) -> Pipeline:
        return dlt.pipeline(
            pipeline_name=PIPELINE_NAME,
            destination=dlt.destinations.postgres(credentials=self.url),
            dataset_name=self.dataset,
            pipelines_dir=str(self.pipelines_dir),
        )


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def driver(
    request: pytest.FixtureRequest,
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Driver]:
    # One job at a time, so that the kill catches the searches job alone in the gap. With
    # parallel jobs another one may be in it too; on PostgreSQL a dict-row job (the
    # bookkeeping tables, dlt's own state) run again breaks the unique `_dlt_id` index, and
    # the resumed package fails instead of duplicating (a dlt limitation, see README).
    monkeypatch.setenv("LOAD__WORKERS", "1")
    if request.param == "duckdb":
        made = Driver(simulator, tmp_path)
    else:
        url, dataset = postgres_url(), f"coveo_ua_crash_{uuid.uuid4().hex[:12]}"
        options = ("--postgres", url, "--dataset", dataset)
        made = PostgresDriver(simulator, tmp_path, options=options, url=url, dataset=dataset)
    yield made
    made.stop_all()
    if isinstance(made, PostgresDriver):
        drop_datasets(made.pipeline())


def kill_after_commit(driver: Driver, table: str, *options: str) -> None:
    marker = driver.root / f"killed-after-commit-{driver.runs + 1}"
    process = driver.start("--kill-after-commit", table, "--marker", str(marker), *options)
    assert process.wait(timeout=WAIT * 2) == -9, f"not killed: {driver.output()}"
    assert marker.exists(), "killed elsewhere than after the job's commit"


def duplicate_rows(pipeline: Pipeline, table: str) -> int:
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(table)
        rows = client.execute_sql(f"SELECT COUNT(*) - COUNT(DISTINCT search_id) FROM {name}")
    return int(rows[0][0])


def recover(driver: Driver) -> None:
    """Resume the killed package (duplicates), then run once more (repaired)."""
    resumed = driver.finish()
    assert "extract" not in resumed["steps"], "the rerun resumes the pending package only"
    assert duplicate_rows(driver.pipeline(), "searches") > 0, (
        "the resumed job inserted its rows again: the kill hit the gap this test is about"
    )
    repaired = driver.finish()
    assert repaired["steps"][0] == "extract"
    assert_loaded_like_ground_truth(driver)
    driver.finish()  # and the run after the repair finds nothing to repair
    assert_loaded_like_ground_truth(driver)


def test_killed_after_an_appended_job_committed(driver: Driver) -> None:
    driver.finish("--end", WINDOWS[0][1].isoformat())
    kill_after_commit(driver, "searches")
    recover(driver)


def test_killed_after_a_merged_job_committed(driver: Driver) -> None:
    driver.finish("--end", WINDOWS[1][1].isoformat())
    kill_after_commit(driver, "searches", "--lookback", "P1D")
    recover(driver)
