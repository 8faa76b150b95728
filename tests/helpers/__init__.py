"""Helpers for tests: read loaded tables back and compare them with the ground truth."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from coveo_ua_source.schema import TTable, primary_key
from coveo_ua_source.simulator import Simulator, ground_truth

TOKEN = "sim-token"


def loaded_rows(pipeline: Pipeline, table: TTable) -> list[dict[str, Any]]:
    """Every row of a loaded table without dlt's columns, sorted by its primary key.

    Reads through dlt's SQL client, so it works on every SQL destination the tests use.
    """
    with pipeline.sql_client() as client:
        sql = f"SELECT * FROM {client.make_qualified_table_name(table)}"
        with client.execute_query(sql) as cursor:
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    return data_rows(rows, table)


def data_rows(rows: list[dict[str, Any]], table: TTable) -> list[dict[str, Any]]:
    """Rows without dlt's own columns, sorted by the table's primary key."""
    cleaned = [{k: v for k, v in row.items() if not k.startswith("_dlt")} for row in rows]
    return sorted(cleaned, key=lambda row: tuple(row[key] for key in primary_key(table)))


def duckdb_path(pipeline: Pipeline) -> str:
    with pipeline.sql_client() as client:
        return str(client.credentials.database)  # type: ignore[attr-defined]


def expected_rows(
    simulator: Simulator,
    table: TTable,
    start: datetime,
    end: datetime,
    export_format: str = "EXCEL",
) -> list[dict[str, Any]]:
    rows = ground_truth(simulator.config, table, start, end, export_format=export_format)
    return sorted(rows, key=lambda row: tuple(row[key] for key in primary_key(table)))


def assert_rows_equal(
    loaded: list[dict[str, Any]], expected: list[dict[str, Any]], table: str
) -> None:
    """Loaded rows equal the ground truth, column by column, with readable failures."""
    assert len(loaded) == len(expected), f"{table}: {len(loaded)} rows, expected {len(expected)}"
    for index, (got, want) in enumerate(zip(loaded, expected, strict=True)):
        for column, value in want.items():
            assert column in got, f"{table}: column {column} missing; have {sorted(got)}"
            assert _same(got[column], value), (
                f"{table} row {index} column {column}: {got[column]!r} != {value!r}"
            )


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=0, abs_tol=1e-9)
    if isinstance(want, datetime) and isinstance(got, datetime):
        return got.astimezone(UTC) == want.astimezone(UTC)
    return bool(got == want) and type(got) is type(want)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
