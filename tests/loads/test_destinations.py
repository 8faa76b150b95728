"""Other dlt destinations: a Parquet lake for real, and the config snippets."""

from __future__ import annotations

import tomllib
from pathlib import Path

import dlt
import pyarrow.parquet as pq
import pytest
from helpers import TOKEN, assert_rows_equal, data_rows, expected_rows, utc

from coveo_ua_simulator import Simulator
from coveo_ua_source import coveo_ua_source

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "coveo_ua_source" / "templates" / "destinations"


def test_filesystem_parquet_lake_holds_the_ground_truth(
    simulator: Simulator, tmp_path: Path
) -> None:
    pipeline = dlt.pipeline(
        pipeline_name="lake",
        destination=dlt.destinations.filesystem((tmp_path / "lake").as_uri()),
        dataset_name="usage_analytics",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    start, end = utc(2024, 5, 1), utc(2024, 5, 3)
    source = coveo_ua_source(
        access_token=TOKEN, base_url=simulator.api_root, start_date=start, end_date=end,
        poll_interval=0.01, tables=["searches", "clicks"],
    )  # fmt: skip
    pipeline.run(source, loader_file_format="parquet").raise_on_failed_jobs()
    for table in ("searches", "clicks"):
        files = sorted((tmp_path / "lake" / "usage_analytics" / table).glob("*.parquet"))
        assert files, f"no Parquet files for {table}"
        rows = [row for file in files for row in pq.read_table(file).to_pylist()]
        expected = expected_rows(simulator, table, start, end)
        assert_rows_equal(data_rows(rows, table), expected, table)


@pytest.mark.parametrize(
    ("name", "section"),
    [
        pytest.param("bigquery.toml", "bigquery", id="bigquery"),
        pytest.param("snowflake.toml", "snowflake", id="snowflake"),
        pytest.param("filesystem.toml", "filesystem", id="filesystem"),
        pytest.param("delta.toml", "filesystem", id="delta"),
        pytest.param("postgres.toml", "postgres", id="postgres"),
    ],
)
def test_destination_snippets_are_valid_dlt_config(name: str, section: str) -> None:
    config = tomllib.loads((EXAMPLES / name).read_text())
    assert section in config["destination"]
