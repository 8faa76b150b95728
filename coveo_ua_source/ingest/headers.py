"""A CSV file's headers to the output schema, named as dlt will name the loaded columns.

Known columns take their Arrow type from ``schema.ARROW_TYPES``; nothing is typed here.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from coveo_ua_source.dlt_internals import SnakeCaseNaming
from coveo_ua_source.exceptions import ExportFileError
from coveo_ua_source.schema import (
    ARROW_TYPES,
    COLUMNS,
    Column,
    TTable,
    column_by_header,
    primary_key,
    snake_case,
)

_NAMING = SnakeCaseNaming()  # dlt's snake_case: how dlt will name the loaded columns
DLT_COLUMN_PREFIX = "coveo"  # a CSV column `_dlt_id` is loaded as `coveo_dlt_id`


def arrow_schema(table: TTable, headers: Sequence[str]) -> pa.Schema:
    """The output schema of a file with these headers, in header order.

    Headers match the catalog case-insensitively by API name, display name or snake_case
    name; known columns are named ``snake_case(api_name)`` and typed from the catalog,
    identifiers non-nullable. Other headers keep their text as name and are text, except
    that a name dlt would normalize to ``_dlt_...`` (dlt's own columns) becomes
    ``coveo_dlt_...``. Raises ExportFileError for an empty header, or for two headers that
    dlt's naming convention turns into the same column (exact repeats included).
    """
    lookup = _header_lookup(table)
    identifiers = set(primary_key(table))
    fields: list[pa.Field] = []
    seen: dict[str, tuple[int, str]] = {}
    for position, header in enumerate(headers, start=1):
        text = header.strip()
        if not text:
            raise ExportFileError(f"the {table} file's column {position} has an empty header")
        column = lookup.get(text.lower())
        name = snake_case(column.api_name) if column else _unknown_column_name(text)
        normalized = _NAMING.normalize_identifier(name)
        first = seen.setdefault(normalized, (position, text))
        if first[0] != position:
            raise ExportFileError(
                f"the {table} file's headers {first[1]!r} (column {first[0]}) and {text!r} "
                f"(column {position}) both become column {normalized!r}, so one would "
                "overwrite the other: the export is refused; remove the duplicate from "
                "`dimensions`, or report the export to Coveo"
            )
        type_ = ARROW_TYPES[column.type] if column else pa.string()
        fields.append(pa.field(name, type_, nullable=name not in identifiers))
    return pa.schema(fields)


def _unknown_column_name(header: str) -> str:
    """A header outside the catalog keeps its text, unless dlt would read it as its own."""
    normalized = _NAMING.normalize_identifier(header)
    return f"{DLT_COLUMN_PREFIX}{normalized}" if normalized.startswith("_dlt") else header


def _header_lookup(table: TTable) -> dict[str, Column]:
    lookup = column_by_header(table)
    for column in COLUMNS[table]:
        lookup.setdefault(snake_case(column.api_name), column)
    return lookup
