"""Malformed CSV rows end to end: kept in _coveo_ua_rejected_rows, counted, warned about.

The simulator's "malformed" fault adds, to the searches file of the next exports, a line
with one field too many, a row with ``not-a-number`` in a number column and a row with an
empty identifier; the good rows, and so the ground truth, are unchanged. The reruns (all,
the last day again malformed, the last day again clean) are one pipeline run three times
for the module, each run's tables read at once; the tests only read them.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from dlt.pipeline.pipeline import Pipeline
from helpers import (
    END,
    START,
    TOKEN,
    assert_loaded_match,
    assert_tables_match,
    coverage_rows,
    loaded_tables,
    make_source,
    rejected_rows,
)

from coveo_ua_simulator import Simulator, write_export_zip
from coveo_ua_simulator.data import FIELDS
from coveo_ua_simulator.faults import write_malformed_copy
from coveo_ua_source.schema import TABLES, TTable
from coveo_ua_source.warehouse.bookkeeping import REJECTED_TABLE

LINES = 3  # malformed lines per export: one of each kind
WINDOWS = [(START, START + timedelta(days=1)), (START + timedelta(days=1), END)]
REASONS = [
    f"expected {len(FIELDS['searches'])} fields, found {len(FIELDS['searches']) + 1}",
    "bigint column 'number_of_results': bad value 'not-a-number'",
    "the identifier 'search_id' is empty",
]


def malformed_line_numbers(
    simulator: Simulator, window: tuple[datetime, datetime], tmp_path: Path
) -> list[int]:
    """Where the fault puts its lines in this window's searches file (header: line 1)."""
    clean, spoiled = tmp_path / "clean.zip", tmp_path / "spoiled.zip"
    write_export_zip(clean, simulator.config, *window)
    return write_malformed_copy(clean, spoiled, lines=LINES)


def export_zip(simulator: Simulator, export_id: str) -> zipfile.ZipFile:
    """Download an export as the connector did (it is not deleted before the next run)."""
    reply = requests.get(
        f"{simulator.api_root}/v15/exports/{export_id}",
        params={"redirect": "true"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    reply.raise_for_status()
    return zipfile.ZipFile(io.BytesIO(reply.content))


class _Warnings(logging.Handler):
    """The WARNING messages of the connector's loggers during one run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass(frozen=True)
class Stage:
    """What one run left in the pipeline: read at once, so that tests only read."""

    tables: dict[TTable, list[dict[str, Any]]]
    rejected: list[dict[str, Any]]
    coverage: list[dict[str, Any]]
    live_exports: list[tuple[datetime, datetime, str]]
    warnings: list[str]


def run_stage(pipeline: Pipeline, source: Any, simulator: Simulator) -> Stage:
    logger, handler = logging.getLogger("coveo_ua_source"), _Warnings()
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        pipeline.run(source).raise_on_failed_jobs()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    live = [(e.start, e.end, e.id) for e in simulator.exports.values() if not e.deleted]
    tables = loaded_tables(pipeline, TABLES)
    return Stage(tables, rejected_rows(pipeline), coverage_rows(pipeline), live, handler.messages)


@dataclass(frozen=True)
class Reruns:
    """One pipeline run three times: both days with malformed rows, then the last day again
    (lookback P1D) with malformed rows, then the last day again clean."""

    simulator: Simulator
    first: Stage
    malformed_again: Stage
    clean_again: Stage


@pytest.fixture(scope="module")
def reruns(module_simulator: Simulator, module_pipelines: Callable[..., Pipeline]) -> Reruns:
    """Read only: run once for the module's tests (three runs instead of five)."""
    simulator, pipeline = module_simulator, module_pipelines("rejected_reruns")
    simulator.inject("malformed", count=len(WINDOWS), lines=LINES)
    first = run_stage(pipeline, make_source(simulator), simulator)
    simulator.inject("malformed", count=1, lines=LINES)
    again = run_stage(pipeline, make_source(simulator, lookback="P1D"), simulator)
    clean = run_stage(pipeline, make_source(simulator, lookback="P1D"), simulator)
    return Reruns(simulator, first, again, clean)


def assert_stage_matches(stage: Stage, simulator: Simulator) -> None:
    """Every table of the stage equals the ground truth (assert_tables_match, read before)."""
    assert_loaded_match(stage.tables, simulator, END)


def searches_coverage(stage: Stage) -> dict[datetime, dict[str, Any]]:
    return {row["window_start"]: row for row in stage.coverage if row["table_name"] == "searches"}


@pytest.mark.xdist_group("rejected_rows_reruns")  # one worker loads it once
def test_malformed_rows_are_kept_counted_and_reported(reruns: Reruns, tmp_path: Path) -> None:
    simulator, stage = reruns.simulator, reruns.first
    assert_stage_matches(stage, simulator)  # the good rows, none of the malformed ones
    rejected = stage.rejected
    assert len(rejected) == LINES * len(WINDOWS)
    coverage = searches_coverage(stage)
    for start, end in WINDOWS:
        rows = [row for row in rejected if row["window_start"] == start]
        assert [row["line_number"] for row in rows] == malformed_line_numbers(
            simulator, (start, end), tmp_path
        )
        assert [row["reason"] for row in rows] == REASONS
        assert all(f"malformed-{n}" in row["raw_text"] for n, row in enumerate(rows, 1))
        assert {(row["table_name"], row["member"], row["window_end"]) for row in rows} == {
            ("searches", "searches.csv", end)
        }
        assert {row["export_id"] for row in rows} == {coverage[start]["export_id"]}
        assert coverage[start]["rejected_rows"] == LINES
        assert coverage[start]["status"] == "loaded", "the estimate counts good rows only"
    assert {row["rejected_rows"] for row in stage.coverage if row["table_name"] != "searches"} == {
        0
    }
    warnings = stage.warnings
    assert [m for m in warnings if f"{LINES} malformed row(s)" in m and REJECTED_TABLE in m]
    assert len([m for m in warnings if "malformed row(s)" in m]) == len(WINDOWS)


@pytest.mark.xdist_group("rejected_rows_reruns")
def test_rerun_with_lookback_does_not_duplicate_rejected_rows(reruns: Reruns) -> None:
    before, stage = reruns.first.rejected, reruns.malformed_again
    assert [(start, end) for start, end, _ in stage.live_exports] == WINDOWS[1:], (
        "the last day again"
    )
    after = stage.rejected
    assert len(after) == LINES * len(WINDOWS), "replaced, not added"

    def identity(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["window_start"], row["line_number"], row["raw_text"], row["reason"])

    assert [identity(row) for row in after] == [identity(row) for row in before]
    assert {row["export_id"] for row in after if row["window_start"] == WINDOWS[1][0]} == {
        stage.live_exports[0][2]
    }
    assert len(stage.coverage) == len(TABLES) * len(WINDOWS)
    assert [row["rejected_rows"] for row in searches_coverage(stage).values()] == [LINES] * 2
    assert_stage_matches(stage, reruns.simulator)


@pytest.mark.xdist_group("rejected_rows_reruns")
def test_window_loaded_again_clean_has_no_rejected_rows_left(reruns: Reruns) -> None:
    stage = reruns.clean_again
    assert searches_coverage(reruns.malformed_again)[WINDOWS[1][0]]["rejected_rows"] == LINES, (
        "the window had rejected rows before it was loaded again clean"
    )
    assert searches_coverage(stage)[WINDOWS[1][0]]["rejected_rows"] == 0
    left = [row for row in stage.rejected if row["window_start"] == WINDOWS[1][0]]
    assert left == [], "the coverage row says the window has no rejected rows"
    assert [row for row in stage.rejected if row["window_start"] == WINDOWS[0][0]] == [
        row for row in reruns.first.rejected if row["window_start"] == WINDOWS[0][0]
    ], "the first day, not loaded again, keeps its rejected rows"
    assert_stage_matches(stage, reruns.simulator)


def test_nul_bytes_in_values_do_not_break_the_load(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    simulator.inject("malformed", count=len(WINDOWS), lines=0, nul_bytes=20)
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    for export_id in simulator.exports:
        with export_zip(simulator, export_id) as archive:
            assert archive.read("searches.csv").count(b"\0") == 20, "the fault took effect"
    assert_tables_match(pipeline, simulator)
    assert rejected_rows(pipeline) == []
    assert {row["rejected_rows"] for row in coverage_rows(pipeline)} == {0}
