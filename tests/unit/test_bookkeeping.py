"""The bookkeeping rows (ingest/bookkeeping.py): a window's `_coveo_ua_windows` row, its
status against the service's estimate, its rejected rows, and how the items of several
windows are joined per table. No export, no load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest
from helpers import utc

from coveo_ua_source import settings
from coveo_ua_source.dates import Window
from coveo_ua_source.exports.types import ReadyExport
from coveo_ua_source.ingest.archive import RejectedRow
from coveo_ua_source.ingest.custom_dimensions import REJECTED_SCHEMA
from coveo_ua_source.warehouse.bookkeeping import (
    REJECTED_TABLE,
    WINDOWS_TABLE,
    coverage_item,
    destination_merges,
    joined_by_table,
    rejected_item,
)
from coveo_ua_source.warehouse.dimension_catalog import REJECTED_VALUES_TABLE, rejected_values_item
from coveo_ua_source.warehouse.lakehouse import for_delta

DAY = Window(utc(2024, 3, 1), utc(2024, 3, 2))
READY = ReadyExport(DAY, ("searches", "clicks"), "export-7", Path("x.zip"), {"searches": 1000})
NEXT_DAY = ReadyExport(
    Window(DAY.end, utc(2024, 3, 3)), ("searches", "clicks"), "export-8", Path("y.zip"), {}
)
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
        pytest.param("searches", 1050, "loaded", id="more-within-tolerance"),
        pytest.param("searches", 1200, "above_estimate", id="more-than-estimated"),
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
    assert warned == (status != "loaded"), "a warning with both numbers when far off"


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


def test_joined_items_carry_every_window_of_a_table_once_per_table(
    pipeline_to: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What two tables' readers queue over two windows: ten items in, three out."""
    pipeline_to(dlt.destinations.duckdb(str(tmp_path / "x.duckdb")))
    # outside an extract: the load id that dlt's extract step would give
    monkeypatch.setattr(dlt.current, "load_package_state", lambda: {"load_id": "1.5"})
    items = [
        item
        for ready in (READY, NEXT_DAY)
        for table in ("searches", "clicks")
        for item in (
            rejected_item(table, ready, [BAD] if table == "searches" else []),
            coverage_item(table, ready, loaded=10, rejected=0),
        )
    ]
    items.append(_rejected_values("searches", READY, 2))
    items.append(_rejected_values("clicks", NEXT_DAY, 1))
    joined = joined_by_table(items)
    assert [table_of(item) for item in joined] == [
        REJECTED_TABLE, WINDOWS_TABLE, REJECTED_VALUES_TABLE
    ]  # fmt: skip
    rejected, windows, values = joined
    assert rows_of(rejected) == [row for item in items[0::2][:4] for row in rows_of(item)]
    assert [(row["table_name"], row["export_id"]) for row in rows_of(windows)] == [
        ("searches", "export-7"), ("clicks", "export-7"),
        ("searches", "export-8"), ("clicks", "export-8"),
    ]  # fmt: skip
    assert values.data.column("table_name").to_pylist() == ["searches"] * 3 + ["clicks"] * 2
    assert len(set(values.data.column("_dlt_id").to_pylist())) == 5
    assert [item.meta.hints for item in joined] == [items[i].meta.hints for i in (0, 1, 8)]


def test_items_of_one_table_with_other_hints_stay_apart() -> None:
    """A Delta table's windows upsert where the others delete-insert: never joined."""
    merged = coverage_item("searches", READY, loaded=10, rejected=0)
    upserted = for_delta(coverage_item("clicks", READY, loaded=10, rejected=0))
    later = coverage_item("searches", NEXT_DAY, loaded=10, rejected=0)
    joined = joined_by_table([merged, upserted, later])
    assert len(joined) == 2
    assert [row["export_id"] for row in rows_of(joined[0])] == ["export-7", "export-8"]
    assert joined[1] is upserted


def test_a_single_item_of_a_table_is_passed_on_as_it_is() -> None:
    item = coverage_item("searches", READY, loaded=10, rejected=0)
    assert joined_by_table([item]) == [item]
    assert joined_by_table([]) == []


def _rejected_values(table: str, ready: ReadyExport, rows: int) -> Any:
    values = pa.Table.from_pylist(
        [
            {"column_name": "c_x", "row_key": str(n), "raw_text": "x", "expected_type": "bigint"}
            for n in range(rows)
        ],
        schema=REJECTED_SCHEMA,
    )
    return rejected_values_item(table, ready, [values])
