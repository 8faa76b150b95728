"""Typing one parsed batch: the parser's raw columns to the output schema.

pyarrow's CSV reader hands over every column as binary; ``BatchConverter`` casts each to
its output type (``schema.ARROW_TYPES`` via ``ingest/headers.py``), repairs invalid UTF-8
in text that is not an identifier, and names the rows to reject (a value that does not
convert, an empty identifier) with the row's text and the reason. Line numbers and the
reporting of rejected rows stay with the member reader. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from coveo_ua_source.ingest import arrow_literals
from coveo_ua_source.ingest.csv_text import (
    bad_rows,
    convert_column,
    format_row,
    repair_utf8,
    type_name,
)
from coveo_ua_source.schema import TExportFormat

TRejected = dict[int, tuple[str, str]]  # row index -> (row text, reason)


@dataclass
class ReadStats:
    """What reading repaired rather than rejected."""

    repaired_values: int = 0  # text values whose invalid UTF-8 became U+FFFD


class BatchConverter:
    """Converts the batches of one CSV member, whose output schema its headers decided."""

    def __init__(self, schema: pa.Schema, export_format: TExportFormat, stats: ReadStats) -> None:
        self._schema = schema
        self._format: TExportFormat = export_format
        self._stats = stats

    def convert(self, batch: pa.RecordBatch) -> tuple[list[pa.Array | None], TRejected]:
        """Each column in its type (None where some value does not convert) and the rows
        to reject."""
        arrays = [self._convert_column(column, field) for column, field in self._pairs(batch)]
        rejected = self._empty_identifiers(batch)
        if any(array is None for array in arrays):  # rare: bad values in some column
            self._add_conversion_failures(batch, arrays, rejected)
        return arrays, rejected

    def assemble(
        self, batch: pa.RecordBatch, arrays: list[pa.Array | None], rejected: TRejected
    ) -> pa.RecordBatch:
        """The output batch without the rejected rows."""
        if rejected:
            keep = arrow_literals.booleans([i not in rejected for i in range(batch.num_rows)])
            arrays = [
                convert_column(column.filter(keep), field.type)
                if array is None
                else array.filter(keep)
                for array, (column, field) in zip(arrays, self._pairs(batch), strict=True)
            ]
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)

    def _convert_column(self, column: pa.Array, field: pa.Field) -> pa.Array | None:
        """The column in its type; invalid UTF-8 repaired in text that is not an identifier."""
        array = _try_convert(column, field.type)
        if array is None and field.type == pa.string() and field.nullable:
            array, repaired = repair_utf8(column)
            self._stats.repaired_values += repaired
        return array

    def _pairs(self, batch: pa.RecordBatch) -> Iterator[tuple[pa.Array, pa.Field]]:
        return zip(batch.columns, self._schema, strict=True)

    def _add_conversion_failures(
        self, batch: pa.RecordBatch, arrays: list[pa.Array | None], rejected: TRejected
    ) -> None:
        for array, (column, field) in zip(arrays, self._pairs(batch), strict=True):
            if array is not None:
                continue
            for index in bad_rows(column, field.type):
                value = column[index].as_py().decode("utf-8", "replace")
                reason = f"{type_name(field.type)} column {field.name!r}: bad value {value!r}"
                rejected.setdefault(index, (self._row_text(batch, index), reason))

    def _empty_identifiers(self, batch: pa.RecordBatch) -> TRejected:
        rejected: TRejected = {}
        for column, field in self._pairs(batch):
            if field.nullable or not column.null_count:
                continue
            for index in pc.indices_nonzero(column.is_null()).to_pylist():
                reason = f"the identifier {field.name!r} is empty"
                rejected.setdefault(index, (self._row_text(batch, index), reason))
        return rejected

    def _row_text(self, batch: pa.RecordBatch, index: int) -> str:
        values = [column[index].as_py() for column in batch.columns]
        texts = [None if v is None else v.decode("utf-8", "replace") for v in values]
        return format_row(texts, self._format)


def _try_convert(column: pa.Array, type_: pa.DataType) -> pa.Array | None:
    try:
        return convert_column(column, type_)
    except pa.ArrowInvalid:
        return None
