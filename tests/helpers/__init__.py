"""Helpers shared by test modules: a source on the simulator, loaded tables read back and
compared with the ground truth, the bookkeeping tables read back.

Submodules: ``pipelines`` (DuckDB pipelines in a folder, dlt kept from the user's
settings), ``open_database`` (a DuckDB file held open), ``copies`` (a loaded pipeline
copied), ``cli`` (dlt config files, the `coveo-ua` command), ``stub_client`` (an in-memory
exports API), ``views``, ``zips``, ``postgres``, ``partitions``, ``load_path`` (append
then merge), ``rejected_values``, ``crash`` (the crash driver), ``forked`` (processes
forked from a server that imported dlt) and ``targets`` (what they run).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest
from dlt.pipeline.pipeline import Pipeline

from coveo_ua_simulator import Simulator, SimulatorConfig, ground_truth
from coveo_ua_source import coveo_ua_source
from coveo_ua_source.exports.types import WindowFailedError
from coveo_ua_source.schema import TABLES, TTable, primary_key
from coveo_ua_source.warehouse.bookkeeping import REJECTED_TABLE

TOKEN = "sim-token"


@contextmanager
def window_fails_with(kind: type[BaseException], match: str | None = None) -> Iterator[Any]:
    """The runner's stream gives up on a window with an error of ``kind``: it raises
    ``WindowFailedError`` carrying it (and would go on with the next windows)."""
    with pytest.raises(WindowFailedError) as raised:
        yield raised
    assert isinstance(raised.value.error, kind), raised.value.error
    if match is not None:
        assert re.search(match, str(raised.value.error)), str(raised.value.error)


def loaded_rows(pipeline: Pipeline, table: TTable) -> list[dict[str, Any]]:
    """Every row of a loaded table without dlt's columns, sorted by its primary key.

    Reads through dlt's SQL client, so it works on every SQL destination the tests use.
    """
    return loaded_tables(pipeline, (table,))[table]


def loaded_tables(
    pipeline: Pipeline, tables: Sequence[TTable]
) -> dict[TTable, list[dict[str, Any]]]:
    """``loaded_rows`` of several tables, read through one SQL client: opening one costs
    dlt's config resolution and a new database connection.

    Every table read is also checked for variant columns (``<column>__v_<type>``): a
    column's type never changes once loaded, so none may ever appear."""
    assert_no_variant_columns(pipeline)
    with pipeline.sql_client() as client:
        return {table: table_rows(client, table) for table in tables}


class MovableClock:
    """A present that a test moves: ``clock.utc_now`` or a simulator's ``clock``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def assert_no_variant_columns(pipeline: Pipeline) -> None:
    """No table of the pipeline's schemas has a dlt variant column."""
    for schema in pipeline.schemas.values():
        for name, table in schema.tables.items():
            variants = [column for column in table.get("columns", {}) if "__v_" in column]
            assert not variants, f"{name} has variant columns {variants}"


def table_rows(client: Any, table: TTable) -> list[dict[str, Any]]:
    """``loaded_rows`` of ``table`` through an open SQL client."""
    return by_primary_key(all_rows(client, table, dlt_columns=False), table)


def all_rows(client: Any, table: str, dlt_columns: bool = True) -> list[dict[str, Any]]:
    """Every row of ``table`` as dicts, dlt's columns included unless ``dlt_columns`` is
    False, through an open SQL client."""
    sql = f"SELECT * FROM {client.make_qualified_table_name(table)}"
    with client.execute_query(sql) as cursor:
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    kept = [i for i, name in enumerate(names) if dlt_columns or not name.startswith("_dlt")]
    return [{names[i]: values[i] for i in kept} for values in rows]


def data_rows(rows: list[dict[str, Any]], table: TTable) -> list[dict[str, Any]]:
    """Rows without dlt's own columns, sorted by the table's primary key."""
    cleaned = [{k: v for k, v in row.items() if not k.startswith("_dlt")} for row in rows]
    return by_primary_key(cleaned, table)


def by_primary_key(rows: Sequence[dict[str, Any]], table: TTable) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: tuple(row[key] for key in primary_key(table)))


def duckdb_path(pipeline: Pipeline) -> str:
    """``pipeline``'s DuckDB file, from its destination's resolved configuration (opening a
    SQL client for it would also open the database)."""
    assert pipeline.destination is not None
    configuration = pipeline.destination.configuration(None, accept_partial=True)
    return str(configuration.credentials.database)  # type: ignore[attr-defined]


def expected_rows(
    simulator: Simulator,
    table: TTable,
    start: datetime,
    end: datetime,
    export_format: str = "EXCEL",
) -> list[dict[str, Any]]:
    """The ground truth of ``table`` from ``start`` to ``end``, sorted by its primary key;
    the caller's own copy."""
    truth = _sorted_truth(simulator.config, table, start, end, export_format)
    return [dict(row) for row in truth]


# A test process checks the same simulated days many times; ground_truth converts every
# value of every row each time.
@functools.lru_cache(maxsize=256)
def _sorted_truth(
    config: SimulatorConfig, table: TTable, start: datetime, end: datetime, export_format: str
) -> tuple[dict[str, Any], ...]:
    rows = ground_truth(config, table, start, end, export_format=export_format)  # type: ignore[arg-type]
    return tuple(by_primary_key(rows, table))


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


START = utc(2024, 3, 1)
END = utc(2024, 3, 3)


def make_source(simulator: Simulator, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "access_token": TOKEN,
        "base_url": simulator.api_root,
        "start_date": START,
        "end_date": END,
        "poll_interval": 0.01,
    }
    arguments.update(overrides)
    return coveo_ua_source(**arguments)


def assert_tables_match(
    pipeline: Pipeline,
    simulator: Simulator,
    tables: tuple[str, ...] = TABLES,
    end: Any = END,
    export_format: str = "EXCEL",
) -> None:
    assert_loaded_match(loaded_tables(pipeline, tables), simulator, end, export_format)  # type: ignore[arg-type]


def assert_loaded_match(
    loaded: Mapping[TTable, list[dict[str, Any]]],
    simulator: Simulator,
    end: Any = END,
    export_format: str = "EXCEL",
    *,
    start: datetime = START,
) -> None:
    """Rows read by ``loaded_tables`` equal the ground truth from ``start`` to ``end``."""
    for table, rows in loaded.items():
        expected = expected_rows(simulator, table, start, end, export_format)
        assert expected, f"the simulator produced no {table} rows; the test proves nothing"
        assert_rows_equal(rows, expected, table)


def coverage_rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    with duckdb.connect(duckdb_path(pipeline)) as connection:
        result = connection.execute(
            "SELECT table_name, window_start, window_end, export_id, estimated_rows, "
            "loaded_rows, rejected_rows, status FROM "
            f"{pipeline.dataset_name}._coveo_ua_windows ORDER BY window_start, table_name"
        )
        names = [column[0] for column in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def rejected_rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The rejected rows table, in window and line order ([] when it was never created)."""
    if REJECTED_TABLE not in pipeline.default_schema.tables:
        return []
    with duckdb.connect(duckdb_path(pipeline)) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        result = connection.execute(
            "SELECT table_name, window_start, window_end, export_id, member, line_number, "
            f"raw_text, reason FROM {pipeline.dataset_name}.{REJECTED_TABLE} "
            "ORDER BY window_start, line_number"
        )
        names = [column[0] for column in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
