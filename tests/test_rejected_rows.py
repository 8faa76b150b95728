"""Malformed CSV rows end to end: kept in _coveo_ua_rejected_rows, counted, warned about.

The simulator's "malformed" fault adds, to the searches file of the next exports, a line
with one field too many, a row with ``not-a-number`` in a number column and a row with an
empty identifier; the good rows, and so the ground truth, are unchanged.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
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
    assert_tables_match,
    coverage_rows,
    make_source,
    rejected_rows,
)

from coveo_ua_source.ingest.bookkeeping import REJECTED_TABLE
from coveo_ua_source.schema import TABLES
from coveo_ua_source.simulator import Simulator, write_export_zip
from coveo_ua_source.simulator.data import FIELDS
from coveo_ua_source.simulator.faults import write_malformed_copy

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


def searches_coverage(pipeline: Pipeline) -> dict[datetime, dict[str, Any]]:
    return {
        row["window_start"]: row
        for row in coverage_rows(pipeline)
        if row["table_name"] == "searches"
    }


def test_malformed_rows_are_kept_counted_and_reported(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    simulator.inject("malformed", count=len(WINDOWS), lines=LINES)
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING, logger="coveo_ua_source"):
        pipeline.run(make_source(simulator)).raise_on_failed_jobs()

    assert_tables_match(pipeline, simulator)  # the good rows, none of the malformed ones
    rejected = rejected_rows(pipeline)
    assert len(rejected) == LINES * len(WINDOWS)
    coverage = searches_coverage(pipeline)
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
    assert {
        row["rejected_rows"] for row in coverage_rows(pipeline) if row["table_name"] != "searches"
    } == {0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in warnings if f"{LINES} malformed row(s)" in m and REJECTED_TABLE in m]
    assert len([m for m in warnings if "malformed row(s)" in m]) == len(WINDOWS)


def test_rerun_with_lookback_does_not_duplicate_rejected_rows(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    simulator.inject("malformed", count=len(WINDOWS), lines=LINES)
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    before = rejected_rows(pipeline)

    simulator.inject("malformed", count=1, lines=LINES)
    pipeline.run(make_source(simulator, lookback="P1D")).raise_on_failed_jobs()
    reexported = [e for e in simulator.exports.values() if not e.deleted]
    assert [(e.start, e.end) for e in reexported] == WINDOWS[1:], "the last day again"
    after = rejected_rows(pipeline)
    assert len(after) == LINES * len(WINDOWS), "replaced, not added"

    def identity(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["window_start"], row["line_number"], row["raw_text"], row["reason"])

    assert [identity(row) for row in after] == [identity(row) for row in before]
    assert {row["export_id"] for row in after if row["window_start"] == WINDOWS[1][0]} == {
        reexported[0].id
    }
    coverage = coverage_rows(pipeline)
    assert len(coverage) == len(TABLES) * len(WINDOWS)
    assert [row["rejected_rows"] for row in searches_coverage(pipeline).values()] == [LINES] * 2
    assert_tables_match(pipeline, simulator)


def test_window_loaded_again_clean_has_no_rejected_rows_left(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    simulator.inject("malformed", count=len(WINDOWS), lines=LINES)
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    pipeline.run(make_source(simulator, lookback="P1D")).raise_on_failed_jobs()
    assert searches_coverage(pipeline)[WINDOWS[1][0]]["rejected_rows"] == 0
    left = [row for row in rejected_rows(pipeline) if row["window_start"] == WINDOWS[1][0]]
    assert left == [], "the coverage row says the window has no rejected rows"


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
