"""A Delta lakehouse on the filesystem destination: merges on the primary keys."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.load.load import Load
from helpers import TOKEN, assert_rows_equal, data_rows, expected_rows, utc

from coveo_ua_simulator import Simulator
from coveo_ua_simulator.truth import rejected_values
from coveo_ua_source import coveo_ua_source, delta_lakehouse
from coveo_ua_source.schema import TABLES

deltalake = pytest.importorskip("deltalake", reason='pip install "coveo-ua-source[delta]"')

START, MIDDLE, END = utc(2024, 5, 1), utc(2024, 5, 3), utc(2024, 5, 4)


@pytest.fixture(autouse=True)
def _prompt_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Have dlt's loader look for finished jobs every 0.1 s instead of every second.

    It sleeps until a running job signals that it is done, or 1 s. A Delta table's file
    jobs are done on creation and never signal (only the table's merge job that follows
    them runs), so each run would idle about a second.
    """
    create = Load.__init__

    def create_prompt_loader(self: Load, *args: Any, **kwargs: Any) -> None:
        create(self, *args, **kwargs)
        self._run_loop_sleep_duration = 0.1

    monkeypatch.setattr(Load, "__init__", create_prompt_loader)


def delta_rows(lake: Path, table: str) -> list[dict[str, Any]]:
    return list(
        deltalake.DeltaTable(str(lake / "usage_analytics" / table)).to_pyarrow_table().to_pylist()
    )


def test_delta_lake_merges_a_lookback_without_duplicates(
    simulator: Simulator, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    pipeline = dlt.pipeline(
        pipeline_name="delta_lake",
        destination=dlt.destinations.filesystem(lake.as_uri()),
        dataset_name="usage_analytics",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    common: dict[str, Any] = {
        "access_token": TOKEN, "base_url": simulator.api_root, "start_date": START,
        "poll_interval": 0.01,
    }  # fmt: skip
    pipeline.run(delta_lakehouse(coveo_ua_source(**common, end_date=MIDDLE)))
    pipeline.run(delta_lakehouse(coveo_ua_source(**common, end_date=END, lookback="P1D")))
    assert simulator.created_count == 4, "the second run re-exports the last day (lookback)"
    for table in TABLES:
        expected = expected_rows(simulator, table, START, END)
        assert_rows_equal(data_rows(delta_rows(lake, table), table), expected, table)
    windows = delta_rows(lake, "_coveo_ua_windows")
    assert len(windows) == len(TABLES) * 3, "one row per table and window, none twice"
    for table in ("searches", "clicks", "custom_events"):
        got = sorted(
            (r["column_name"], r["row_key"], r["raw_text"], r["expected_type"])
            for r in delta_rows(lake, "_coveo_ua_rejected_values")
            if r["table_name"] == table
        )
        assert got == rejected_values(simulator.config, table, START, END)
    days = {(row["window_start"], row["window_end"]) for row in windows}
    assert (MIDDLE - timedelta(days=1), MIDDLE) in days
