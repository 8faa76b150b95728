"""The bookkeeping rows (ingest/bookkeeping.py): a window's `_coveo_ua_windows` row, its
status against the service's estimate, and its rejected rows. No export, no load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import pytest
from helpers import utc

from coveo_ua_source import settings
from coveo_ua_source.exports.types import ReadyExport
from coveo_ua_source.exports.windows import Window
from coveo_ua_source.ingest.archive import RejectedRow
from coveo_ua_source.ingest.bookkeeping import (
    REJECTED_TABLE,
    WINDOWS_TABLE,
    coverage_item,
    destination_merges,
    rejected_item,
)

DAY = Window(utc(2024, 3, 1), utc(2024, 3, 2))
READY = ReadyExport(DAY, ("searches", "clicks"), "export-7", Path("x.zip"), {"searches": 1000})
BAD = RejectedRow(
    table="searches", member="searches.csv", line_number=4, raw_text='"a,b', reason="unclosed quote"
)


def rows_of(item: Any) -> list[dict[str, Any]]:
    return list(item.data)


def table_of(item: Any) -> str:
    return str(item.meta.hints["table_name"])


def test_a_windows_row_says_what_the_window_loaded() -> None:
    item = coverage_item("searches", READY, loaded=990, rejected=2, repaired=1, rejected_values=3)
    [row] = rows_of(item)
    assert table_of(item) == WINDOWS_TABLE
    loaded_at = row.pop("loaded_at")
    assert loaded_at.tzinfo is not None
    assert row == {
        "table_name": "searches",
        "window_start": DAY.start,
        "window_end": DAY.end,
        "export_id": "export-7",
        "estimated_rows": 1000,
        "loaded_rows": 990,
        "rejected_rows": 2,
        "repaired_values": 1,
        "rejected_values": 3,
        "status": "loaded",
    }


@pytest.mark.parametrize(
    ("table", "loaded", "status"),
    [
        pytest.param("searches", 1000, "loaded", id="as-estimated"),
        pytest.param("searches", 1200, "loaded", id="more-than-estimated"),
        pytest.param("searches", 950, "loaded", id="within-tolerance"),
        pytest.param("searches", 949, "below_estimate", id="below-tolerance"),
        pytest.param("searches", 0, "below_estimate", id="nothing-loaded"),
        pytest.param("clicks", 0, "loaded", id="no-estimate"),
    ],
)
def test_status_compares_loaded_rows_with_the_estimate(
    table: str, loaded: int, status: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.ESTIMATE_TOLERANCE == 0.05, "the cases assume a 5% tolerance"
    [row] = rows_of(coverage_item(table, READY, loaded=loaded, rejected=0))
    assert row["status"] == status
    warned = "estimated 1000" in caplog.text and "export-7" in caplog.text
    assert warned == (status == "below_estimate")


@pytest.fixture
def pipeline_to(tmp_path: Path) -> Any:
    """Make a pipeline to a destination the current one (no run)."""

    def make(destination: Any) -> Any:
        return dlt.pipeline(
            pipeline_name="unit_bookkeeping",
            destination=destination,
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make


def test_rejected_rows_replace_the_windows_earlier_ones(
    pipeline_to: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline_to(dlt.destinations.duckdb(str(tmp_path / "x.duckdb")))
    item = rejected_item("searches", READY, [BAD])
    marker, row = rows_of(item)
    window = {"table_name": "searches", "window_start": DAY.start, "window_end": DAY.end}
    assert marker == {**window, "export_id": "export-7", "_superseded": True}
    assert row == {
        **window,
        "export_id": "export-7",
        "member": "searches.csv",
        "line_number": 4,
        "raw_text": '"a,b',
        "reason": "unclosed quote",
        "_superseded": False,
    }
    assert table_of(item) == REJECTED_TABLE
    assert "1 malformed row(s) kept in _coveo_ua_rejected_rows" in caplog.text


def test_a_clean_window_still_sends_the_marker_that_clears_earlier_rejects(
    pipeline_to: Any, tmp_path: Path
) -> None:
    pipeline_to(dlt.destinations.duckdb(str(tmp_path / "x.duckdb")))
    assert [row["_superseded"] for row in rows_of(rejected_item("searches", READY, []))] == [True]


def test_a_destination_that_only_appends_gets_no_marker_row(
    pipeline_to: Any, tmp_path: Path
) -> None:
    pipeline_to(dlt.destinations.filesystem(str(tmp_path / "lake")))
    assert destination_merges() is False
    rows = rows_of(rejected_item("searches", READY, [BAD]))
    assert [row["_superseded"] for row in rows] == [False]


def test_without_a_destination_merge_hints_decide_later(pipeline_to: Any) -> None:
    pipeline_to(None)
    assert destination_merges() is True
