"""Custom dimensions (``c_*`` columns) typed as Coveo's ``/v15/dimensions/exportables`` says.

The reader yields every ``c_*`` column as text; ``type_batch`` casts them batch by batch.
Pure: no network, no dlt. Typing rules (Coveo type -> Arrow type -> dlt data type):

- ``NUMBER`` -> float64 -> ``double``, always (decimal text, optional exponent: ``-1.5e3``).
  The payload carries no scale or precision, so deciding bigint from the values would make
  the column's type depend on which window came first (a later ``1.5`` would then not
  fit); a double holds every integer up to 2**53.
- ``SHORT`` -> int64 -> ``bigint``; ``BOOLEAN`` -> bool (``true``/``false``/``1``/``0``, any
  case); ``DATE`` -> date32 (``YYYY-MM-DD``); ``DATETIME`` -> UTC timestamp in microseconds
  (the reader's forms: ``2024-01-31T23:59:59.999Z``, ``2024-01-31 23:59:59.999``, both
  without milliseconds).
- ``TEXT``, any other type, and ``c_*`` columns the exportables list does not know stay text.

Surrounding spaces are ignored. A value that does not parse becomes NULL and is returned as a
row of ``TypedBatch.rejected`` (an Arrow table, ``REJECTED_SCHEMA``) with the row's key, so
nothing is lost; those rows are built column-wise, never one Python object per value.

A column's type never changes once loaded (``loaded_types``): when Coveo reports another
type later, the column is still cast to the type it was loaded with, and the values that
do not fit it are rejected values. No variant column (``<column>__v_<type>``) is made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from coveo_ua_source.ingest import arrow_literals
from coveo_ua_source.ingest.csv_text import bad_rows, convert_column
from coveo_ua_source.schema import ARROW_TYPES, COVEO_COLUMN_TYPES, COVEO_TYPES

# The text each type accepts (after trimming spaces); see the module doc.
_PATTERNS: dict[str, str] = {
    "NUMBER": r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$",
    "SHORT": r"^[+-]?[0-9]+$",
    "BOOLEAN": r"^(?i:true|false|1|0)$",
    "DATE": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "DATETIME": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?Z?$",
}


@dataclass(frozen=True)
class Dimension:
    """One exportable dimension as the service describes it."""

    return_name: str
    display_name: str
    type: str
    custom: bool
    event_types: tuple[str, ...]

    @property
    def table(self) -> str | None:
        """The table part of ``returnName`` (``custom_events.c_x`` -> ``custom_events``)."""
        table, dot, _ = self.return_name.partition(".")
        return table.lower() if dot else None

    @property
    def column(self) -> str:
        """The column part of ``returnName``, lower-cased."""
        return self.return_name.rpartition(".")[2].lower()

    @property
    def loads_as(self) -> str:
        """The dlt data type a custom dimension of this type loads as (unknown: text)."""
        return COVEO_COLUMN_TYPES.get(self.type, "text") if self.is_typed_custom else "text"

    @property
    def is_typed_custom(self) -> bool:
        return self.column.startswith("c_")


# One row per custom dimension value that did not parse as its type (loaded as NULL).
REJECTED_SCHEMA = pa.schema(
    [
        pa.field("column_name", pa.string()),
        pa.field("row_key", pa.string()),
        pa.field("raw_text", pa.string()),
        pa.field("expected_type", pa.string()),
    ]
)
# JSON strings made of these characters need no escaping: printable ASCII but " and \.
_PLAIN_JSON_TEXT = r"^[ !#-\[\]-~]*$"
_EMPTY = arrow_literals.text("")
_FALSE = arrow_literals.boolean(False)


@dataclass(frozen=True)
class TypedBatch:
    """A batch with its custom dimensions cast, and the values that did not parse."""

    batch: pa.RecordBatch
    rejected: pa.Table  # REJECTED_SCHEMA


def parse_exportables(payload: Iterable[Mapping[str, Any]]) -> list[Dimension]:
    """The dimensions of an exportables answer; items without a ``returnName`` are skipped."""
    dimensions = []
    for item in payload:
        return_name = item.get("returnName")
        if not isinstance(return_name, str) or not return_name.strip():
            continue
        event_types = item.get("eventTypes") or ()
        dimensions.append(
            Dimension(
                return_name=return_name.strip(),
                display_name=str(item.get("displayName") or return_name),
                type=str(item.get("type") or "TEXT").upper(),
                custom=bool(item.get("custom", False)),
                event_types=tuple(str(e) for e in event_types),
            )
        )
    return dimensions


def column_types(dimensions: Iterable[Dimension], table: str) -> dict[str, str]:
    """Coveo type of each ``c_*`` column of ``table`` (lower-cased column name -> type).

    A ``returnName`` without a table part applies to every table; a qualified one wins.
    """
    custom = [d for d in dimensions if d.is_typed_custom]
    types = {d.column: d.type for d in custom if d.table is None}
    types.update({d.column: d.type for d in custom if d.table == table})
    return types


def type_batch(
    batch: pa.RecordBatch,
    types: Mapping[str, str],
    key_columns: Sequence[str],
    loaded_types: Mapping[str, str] | None = None,
) -> TypedBatch:
    """Cast the ``c_*`` text columns of ``batch`` named in ``types`` (see the module doc).

    ``loaded_types``: the dlt data type of columns already in the destination schema
    (lower-cased names), which decide when a variant column is needed.
    """
    loaded = loaded_types or {}
    rejected: list[pa.Table] = []
    fields, arrays = [], []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        coveo_type = kept_type(field.name.lower(), types, loaded)
        arrow_type = _arrow_type(coveo_type)
        custom = field.name.lower().startswith("c_") and pa.types.is_string(column.type)
        if not custom:
            fields.append(field)  # keeps the identifiers' nullable=False
            arrays.append(column)
            continue
        bad: list[int] = []
        if arrow_type is None:  # TEXT or a type the connector does not know
            coveo_type, arrow_type, typed = "TEXT", pa.string(), column
        else:
            typed, bad = cast_values(column, coveo_type)
        if bad:
            rejected.append(rejected_table(batch, key_columns, field.name, coveo_type, bad))
        fields.append(pa.field(field.name, arrow_type))
        arrays.append(typed)
    typed = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    return TypedBatch(typed, pa.concat_tables(rejected) if rejected else empty_rejected())


class HeldRejected:
    """A window's rejected values, batch after batch, held in few chunks.

    Each batch's ``TypedBatch.rejected`` is a table of a few rows in a chunk per column
    with bad values, and each such chunk costs about 8 KB however few its rows (buffers,
    wrappers): held as they come, a window of thousands of batches grew the extract's
    memory with its rows. Every ``combine_every`` tables with rows are combined into one.
    """

    def __init__(self, combine_every: int = 32) -> None:
        self._every = combine_every
        self._combined: list[pa.Table] = []
        self._recent: list[pa.Table] = []

    def add(self, rejected: pa.Table) -> None:
        if not rejected.num_rows:
            return
        self._recent.append(rejected)
        if len(self._recent) >= self._every:
            self._combined.append(pa.concat_tables(self._recent).combine_chunks())
            self._recent = []

    def tables(self) -> list[pa.Table]:
        """Every rejected value added, in order."""
        return [*self._combined, *self._recent]


def empty_rejected() -> pa.Table:
    """A ``TypedBatch.rejected`` without rows."""
    return pa.Table.from_batches([], schema=REJECTED_SCHEMA)  # empty_table() imports pandas


def rejected_table(
    batch: pa.RecordBatch,
    key_columns: Sequence[str],
    column: str,
    coveo_type: str,
    rows: Sequence[int],
) -> pa.Table:
    """The rejected values of ``column`` at ``rows`` of ``batch`` (``REJECTED_SCHEMA``)."""
    positions = arrow_literals.integers(rows)
    arrays = [
        pa.repeat(arrow_literals.text(column), len(rows)),
        row_key_texts(batch, key_columns, positions),
        batch.column(column).take(positions),
        pa.repeat(arrow_literals.text(coveo_type), len(rows)),
    ]
    return pa.Table.from_arrays(arrays, schema=REJECTED_SCHEMA)


def kept_type(name: str, types: Mapping[str, str], loaded_types: Mapping[str, str]) -> str:
    """The Coveo type a ``c_*`` column is cast to: the one it was loaded with, else the
    one Coveo reports (``types``), else TEXT."""
    loaded = COVEO_TYPES.get(loaded_types.get(name, ""))
    return loaded or types.get(name, "TEXT")


def cast_values(text: pa.Array, coveo_type: str) -> tuple[pa.Array, list[int]]:
    """``text`` cast to the type of ``coveo_type`` with bad values as NULL, and their positions.

    A regular expression per type finds most bad values in one vectorized pass; bisection
    finds the rest (a ``2024-02-30``, an integer that overflows). Measured on 100k NUMBER
    values, 20 % bad: 0.09 s, against 5.5 s by bisection alone.
    """
    arrow_type = ARROW_TYPES[COVEO_COLUMN_TYPES[coveo_type]]
    trimmed = pc.utf8_trim_whitespace(text)
    trimmed = _null_where(trimmed, pc.equal(trimmed, _EMPTY))
    looks_bad = pc.invert(pc.match_substring_regex(trimmed, _PATTERNS[coveo_type]))
    looks_bad = pc.fill_null(looks_bad, _FALSE)
    bad = pc.indices_nonzero(looks_bad).to_pylist()
    trimmed = _null_where(trimmed, looks_bad)
    residual = bad_rows(trimmed, arrow_type)
    if residual:
        trimmed = _null_where(trimmed, _mask(len(trimmed), residual))
    return convert_column(trimmed, arrow_type), sorted(bad + residual)


def _null_where(text: pa.Array, mask: pa.Array) -> pa.Array:
    return pc.if_else(mask, arrow_literals.null(pa.string()), text)


def row_key_texts(
    batch: pa.RecordBatch, key_columns: Sequence[str], positions: pa.Array
) -> pa.Array:
    """The primary key of the rows at ``positions`` as JSON (``{"search_id": "..."}``), as
    ``json.dumps(..., sort_keys=True)`` writes it.

    Joined column-wise when every key is text that needs no JSON escaping (Coveo's ids);
    any other key goes through ``json.dumps`` row by row.
    """
    present = sorted(name for name in key_columns if name in batch.schema.names)
    if not present:
        return pa.repeat(arrow_literals.text("{}"), len(positions))
    columns = [batch.column(name).take(positions) for name in present]
    if not all(_plain_json_text(column) for column in columns):
        rows = zip(*(column.to_pylist() for column in columns), strict=True)
        return arrow_literals.texts(
            [json.dumps(dict(zip(present, row, strict=True))) for row in rows]
        )
    parts: list[Any] = []
    for index, (name, column) in enumerate(zip(present, columns, strict=True)):
        opening = ("{" if index == 0 else ", ") + json.dumps(name) + ': "'
        parts += [arrow_literals.text(opening), column, arrow_literals.text('"')]
    return pc.binary_join_element_wise(*parts, arrow_literals.text("}"), _EMPTY)


def _plain_json_text(column: pa.Array) -> bool:
    if not pa.types.is_string(column.type) or column.null_count:
        return False
    return pc.all(pc.match_substring_regex(column, _PLAIN_JSON_TEXT)).as_py() is not False


def _mask(length: int, positions: Sequence[int]) -> pa.Array:
    wanted = set(positions)
    return arrow_literals.booleans([index in wanted for index in range(length)])


def _arrow_type(coveo_type: str) -> pa.DataType | None:
    """The Arrow type a value of ``coveo_type`` is parsed to; None for text (kept as is)."""
    column_type = COVEO_COLUMN_TYPES.get(coveo_type, "text")
    return None if column_type == "text" else ARROW_TYPES[column_type]
