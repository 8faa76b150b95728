"""Writing an export zip: one streamed CSV member (or several) per table.

EXCEL: RFC 4180 with LF line endings; a field is quoted when it contains a comma, a quote
or a line break, and quotes are doubled. NO_NEWLINE: each line break inside a value is one
space; a field is quoted when it contains a comma, a quote or a backslash, and inside it
``"`` is written ``\\"`` and ``\\`` is written ``\\\\``. In both, an empty field is a missing
value, bools are ``true``/``false`` and timestamps follow ``cfg.timestamp_style``.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from coveo_ua_simulator.config import SimulatorConfig, TTimestampStyle
from coveo_ua_simulator.data import FIELDS, HOUR_MS, SAFE_TEXT, Columns
from coveo_ua_simulator.filters import ExportFilters
from coveo_ua_simulator.selection import header_names, resolve_dimensions, resolve_tables
from coveo_ua_simulator.truth import (
    count_rows,
    from_ms,
    iter_column_batches,
    no_newline,
    to_ms,
)
from coveo_ua_source.schema import Column, TExportFormat, TTable

ColumnEncoder = Callable[[Sequence[Any]], list[Any]]
_BOOL = {True: "true", False: "false"}
_QUOTE_NO_NEWLINE = frozenset(',"\\')
_QUOTE_EXCEL = frozenset(',"\r\n')
_MEMO_LIMIT = 100_000
_BUFFER = 1 << 20


class TimestampColumn:
    """Formats columns of epoch ms in a timestamp style; fast for rows of a single hour."""

    def __init__(self, style: TTimestampStyle) -> None:
        self._head_format = "%Y-%m-%dT%H:" if style.startswith("iso") else "%Y-%m-%d %H:"
        self._seconds, self._millis = _second_and_milli_texts(style)
        self._heads: dict[int, str] = {}

    def _head(self, hour: int) -> str:
        head = self._heads.get(hour)
        if head is None:
            head = self._heads[hour] = from_ms(hour * HOUR_MS).strftime(self._head_format)
        return head

    def one(self, ms: int) -> str:
        """One timestamp as text."""
        hour, rest = divmod(ms, HOUR_MS)
        return self._head(hour) + self._seconds[rest // 1000] + self._millis[rest % 1000]

    def __call__(self, column: Sequence[int]) -> list[str]:
        if not column or min(column) // HOUR_MS != max(column) // HOUR_MS:
            return [self.one(ms) for ms in column]
        hour = column[0] // HOUR_MS
        head, base, seconds, millis = self._head(hour), hour * HOUR_MS, self._seconds, self._millis
        return [head + seconds[(ms - base) // 1000] + millis[ms % 1000] for ms in column]


@functools.cache
def _second_and_milli_texts(style: TTimestampStyle) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``MM:SS`` for each second of an hour and the millisecond suffix for each ms of a
    second: built once per style (4,600 strings; every table of every zip formats with them)."""
    suffix = "Z" if style.startswith("iso") else ""
    with_ms = style in ("iso_z", "space_ms")
    seconds = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))
    millis = tuple(f".{i:03d}{suffix}" if with_ms else suffix for i in range(1000))
    return seconds, millis


def no_newline_field(value: str | None) -> str:
    """A text value as a NO_NEWLINE field: line breaks to spaces, quoted and escaped."""
    if value is None:
        return ""
    text = no_newline(value)
    if _QUOTE_NO_NEWLINE.isdisjoint(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def excel_field(value: str | None) -> str:
    """A text value as an EXCEL (RFC 4180) field: quoted when needed, quotes doubled."""
    if value is None:
        return ""
    if _QUOTE_EXCEL.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'


class _Memo(dict[Any, str]):
    """Encoded text of pool values, computed once each."""

    def __init__(self, encode: Callable[[str | None], str]) -> None:
        super().__init__()
        self._encode = encode

    def __missing__(self, key: Any) -> str:
        if len(self) > _MEMO_LIMIT:
            self.clear()
        value = self[key] = self._encode(key)
        return value


def _column_encoder(
    column: Column, stamps: TimestampColumn, export_format: TExportFormat
) -> ColumnEncoder:
    if column.type == "timestamp":
        return stamps
    if column.type == "bool":
        return lambda values: [_BOOL.get(v, "") for v in values]
    if column.type == "text" and column.api_name in SAFE_TEXT:
        return lambda values: ["" if v is None else v for v in values]
    if column.type == "text":
        field = no_newline_field if export_format == "NO_NEWLINE" else excel_field
        lookup = _Memo(field).__getitem__
        return lambda values: list(map(lookup, values))
    return lambda values: ["" if v is None else str(v) for v in values]


def _selector(table: TTable, columns: Sequence[Column]) -> Callable[[Columns], Columns]:
    """All columns of a batch -> the selected ones (a missing catalog column is all None)."""
    fields = FIELDS[table]
    where = [fields.index(c.api_name) if c.api_name in fields else None for c in columns]
    return lambda batch: [[None] * len(batch[0]) if p is None else batch[p] for p in where]


def batch_encoder(
    table: TTable, columns: Sequence[Column], cfg: SimulatorConfig, export_format: TExportFormat
) -> Callable[[Columns], str]:
    """A function turning a batch of raw columns into the CSV text of its records."""
    select = _selector(table, columns)
    stamps = TimestampColumn(cfg.timestamp_style)
    encoders = [_column_encoder(col, stamps, export_format) for col in columns]

    def encode(batch: Columns) -> str:
        cols = [enc(values) for enc, values in zip(encoders, select(batch), strict=True)]
        return "\n".join(map(",".join, zip(*cols, strict=True))) + "\n"

    return encode


class _TableSink:
    """The zip member(s) of one table: opened on the first rows, split every max_rows."""

    def __init__(self, archive: zipfile.ZipFile, table: TTable, head: str, split: int | None):
        self._archive, self._table, self._head, self._split = archive, table, head, split
        self._stream: IO[str] | None = None
        self._parts = self._in_part = self.count = 0

    def _open(self) -> IO[str]:
        self._parts += 1
        name = f"{self._table}_{self._parts}.csv" if self._split else f"{self._table}.csv"
        raw = self._archive.open(name, "w", force_zip64=True)
        stream = io.TextIOWrapper(io.BufferedWriter(raw, _BUFFER), encoding="utf-8", newline="")
        stream.write(self._head)
        self._in_part = 0
        return stream

    def write(self, batch: Columns, encode: Callable[[Columns], str]) -> None:
        """Write a batch (columns of equal length), opening and splitting members."""
        while batch and batch[0]:
            stream = self._stream = self._stream or self._open()
            size = len(batch[0])
            room = size if self._split is None else self._split - self._in_part
            if room < size:
                chunk, batch = [c[:room] for c in batch], [c[room:] for c in batch]
            else:
                chunk, batch = batch, []
            stream.write(encode(chunk))
            self._in_part += min(room, size)
            self.count += min(room, size)
            if self._split is not None and self._in_part >= self._split:
                stream.close()
                self._stream = None

    def finish(self, empty_table: str) -> None:
        if self._stream is not None:
            self._stream.close()
        elif self.count == 0 and empty_table != "absent":
            with self._archive.open(f"{self._table}.csv", "w") as member:
                member.write(self._head.encode() if empty_table == "header" else b"")


def _head(columns: list[str], bom: bool) -> str:
    return ("\ufeff" if bom else "") + ",".join(columns) + "\n"


def _write_table(
    archive: zipfile.ZipFile,
    cfg: SimulatorConfig,
    table: TTable,
    columns: tuple[Column, ...],
    options: tuple[tuple[int, int], TExportFormat, bool, ExportFilters | None],
) -> int:
    span, export_format, use_display_names, filters = options
    bom = export_format == "EXCEL" if cfg.bom is None else cfg.bom
    head = _head(header_names(table, columns, cfg, use_display_names), bom)
    split = cfg.max_rows_per_file
    if split is not None and count_rows(cfg, table, span, filters) <= split:
        split = None
    sink = _TableSink(archive, table, head, split)
    encode = batch_encoder(table, columns, cfg, export_format)
    for batch in iter_column_batches(cfg, table, span, filters):
        sink.write(batch, encode)
    sink.finish(cfg.empty_table)
    return sink.count


def write_export_zip(
    path: str | os.PathLike[str],
    cfg: SimulatorConfig,
    start: datetime,
    end: datetime,
    *,
    tables: Iterable[str] | None = None,
    export_format: TExportFormat = "EXCEL",
    use_display_names: bool = False,
    dimensions: Sequence[str] | None = None,
    filters: ExportFilters | None = None,
    compresslevel: int = 1,
) -> dict[str, int]:
    """Write the export of the rows with ``start <= datetime < end`` to a zip at ``path``.

    ``tables``: names as the API takes them (None = all); ``dimensions``: column API names,
    optionally ``table.column`` (None = all; a table left with no column is not written).
    ``filters``: parsed f/fs/fc filters. Returns the rows written per table (catalog names).
    Raises ValueError for an unknown table, dimension or format, or a naive datetime.
    """
    if export_format not in ("EXCEL", "NO_NEWLINE"):
        raise ValueError(f"Unknown export format {export_format!r}.")
    chosen = resolve_tables(list(tables) if tables is not None else None)
    columns = resolve_dimensions(dimensions)
    options = ((to_ms(start), to_ms(end)), export_format, use_display_names, filters)
    written: dict[str, int] = {}
    with zipfile.ZipFile(
        path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
    ) as archive:
        for table in chosen:
            if columns[table]:
                written[table] = _write_table(archive, cfg, table, columns[table], options)
    return written
