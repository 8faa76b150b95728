"""Custom dimension values that did not parse: what a pipeline loaded of them
(``_coveo_ua_rejected_values`` and the ``_coveo_ua_windows`` counts) against the
simulator's own list. Shared by the DuckDB and PostgreSQL tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from coveo_ua_simulator import Simulator
from coveo_ua_simulator.truth import rejected_values
from coveo_ua_source.schema import TTable
from coveo_ua_source.warehouse.dimension_catalog import REJECTED_VALUES_TABLE
from helpers import END, START, all_rows

TYPED_TABLES: tuple[TTable, ...] = ("searches", "clicks", "custom_events")


def windows_rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    with pipeline.sql_client() as client:
        return all_rows(client, "_coveo_ua_windows")


def loaded_rejected_values(pipeline: Pipeline, table: str) -> list[tuple[str, str, str, str]]:
    with pipeline.sql_client() as client:
        sql = (
            "SELECT column_name, row_key, raw_text, expected_type FROM "
            f"{client.make_qualified_table_name(REJECTED_VALUES_TABLE)} WHERE table_name = %s"
        )
        with client.execute_query(sql, table) as cursor:
            return sorted(tuple(row) for row in cursor.fetchall())  # type: ignore[misc]


def assert_rejected_values_match(
    pipeline: Pipeline, simulator: Simulator, start: datetime = START, end: datetime = END
) -> None:
    """Each typed table's rejected values, and each window's count of them, are the
    simulator's."""
    expected = {
        table: rejected_values(simulator.config, table, start, end) for table in TYPED_TABLES
    }
    for table, values in expected.items():
        assert values, f"the simulator has no bad {table} values; the test proves nothing"
        assert loaded_rejected_values(pipeline, table) == values
    counts: dict[str, int] = {}
    for row in windows_rows(pipeline):
        counts[row["table_name"]] = counts.get(row["table_name"], 0) + row["rejected_values"]
    for table, values in expected.items():
        assert counts[table] == len(values)
