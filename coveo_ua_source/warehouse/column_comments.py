"""Column descriptions written as SQL comments where dlt does not write them itself.

Every loaded column of the five tables has a dlt ``description`` (Coveo's display name
and a one-line meaning; custom dimensions take theirs from ``exportables``). dlt 1.31 writes
descriptions into BigQuery and Snowflake when it creates a column, but not into PostgreSQL
or DuckDB: ``comment_columns(pipeline)`` does it there with ``COMMENT ON COLUMN``, which
``create_views`` calls after each load. Other destinations are left to dlt.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.destinations.sql_client import SqlClientBase

from coveo_ua_source.schema import TABLES

# Destinations whose SQL has COMMENT ON COLUMN and where dlt does not write descriptions.
COMMENTED_DESTINATIONS = frozenset({"postgres", "duckdb", "motherduck"})


def comment_columns(pipeline: dlt.Pipeline) -> int:
    """Write each described column's description as its comment; return how many."""
    destination = pipeline.destination.destination_type.rsplit(".", 1)[-1]
    if not pipeline.schema_names or destination not in COMMENTED_DESTINATIONS:
        return 0
    statements = 0
    with pipeline.sql_client() as client:
        for sql in _comment_statements(pipeline, client):
            client.execute_sql(sql)
            statements += 1
    return statements


def _comment_statements(pipeline: dlt.Pipeline, client: SqlClientBase[Any]) -> Iterator[str]:
    schema = pipeline.default_schema
    for table in TABLES:
        if table not in schema.data_table_names():
            continue
        qualified = client.make_qualified_table_name(table)
        for name, column in schema.get_table_columns(table).items():
            description = column.get("description")
            if description and column.get("data_type") is not None:
                column_sql = client.escape_column_name(name)
                yield f"COMMENT ON COLUMN {qualified}.{column_sql} IS {_literal(description)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
