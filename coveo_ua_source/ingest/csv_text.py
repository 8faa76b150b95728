"""The text of a Coveo export's CSV files: bytes, dialects, values and line numbers.

Both export formats are comma separated UTF-8 with a header row (docs/coveo-exports-api.md):

- ``EXCEL``: RFC 4180 quoting, ``""`` inside quoted values, values may contain line breaks;
- ``NO_NEWLINE``: no line breaks inside values, ``\\"`` and ``\\\\`` escape quotes and
  backslashes instead of doubling.

Every column is parsed by pyarrow as binary, then cast here batch by batch: a cast error
cannot kill the streaming reader, and casting costs about as much as pyarrow's own typed
conversion (docs/performance.md). An empty field,
quoted or not, is NULL for every type; only ``""`` is a null value (pyarrow's default list
would turn text like ``NA`` or ``null`` into NULL).

Timestamps: pyarrow parses ``...Z`` only into a zoned type and ``2024-01-31 23:59:59[.fff]``
only into a naive type, so a trailing ``Z`` is trimmed and every form is cast to naive
microseconds, then labelled UTC (Arrow keeps the values). One path for all four forms,
even mixed in a column; about 18 ms per million values. Other zone offsets are rejected.

Bytes (CsvByteStream): a UTF-8 BOM is removed with the header line, which is read here
(pyarrow would also skip a BOM, but it never sees the header). NUL bytes are removed from
the whole stream before parsing: they carry no meaning in UA data, PostgreSQL text cannot
hold them, and the check costs a memchr per block.
"""

from __future__ import annotations

import csv
import io
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from coveo_ua_source.exceptions import ExportFileError
from coveo_ua_source.ingest import arrow_literals
from coveo_ua_source.ingest.read_ahead import ReadAheadGate
from coveo_ua_source.schema import TExportFormat

UTF8_BOM = b"\xef\xbb\xbf"
_HEADER_CHUNK = 64 << 10
_HEADER_MAX_BYTES = 1 << 20
_FIND_MAX = 64
_NAIVE_US = pa.timestamp("us")
_TYPE_NAMES = {
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.bool_(): "bool",
    pa.string(): "UTF-8 text",
}


def parse_options(
    export_format: TExportFormat, on_invalid_row: Callable[[pa_csv.InvalidRow], str]
) -> pa_csv.ParseOptions:
    """pyarrow's parse options for a format; rows with a wrong field count go to the handler."""
    if export_format == "NO_NEWLINE":
        return pa_csv.ParseOptions(
            escape_char="\\",
            double_quote=False,
            newlines_in_values=False,
            invalid_row_handler=on_invalid_row,
        )
    return pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row)


def convert_options(column_names: Sequence[str]) -> pa_csv.ConvertOptions:
    """Every column as binary; empty fields (quoted or not) are NULL, nothing else is."""
    return pa_csv.ConvertOptions(
        column_types={name: pa.binary() for name in column_names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )


def _csv_dialect(export_format: TExportFormat) -> dict[str, object]:
    if export_format == "NO_NEWLINE":
        return {"doublequote": False, "escapechar": "\\"}
    return {}


def parse_header(line: str, export_format: TExportFormat) -> list[str]:
    """The column headers of a header line (BOM and line break already removed)."""
    try:
        rows = list(csv.reader([line], strict=True, **_csv_dialect(export_format)))  # type: ignore[arg-type]
    except csv.Error as error:
        raise ValueError(f"cannot parse {line!r:.200}: {error}") from error
    return [header.strip() for header in rows[0]] if rows else []


def format_row(values: Sequence[str | None], export_format: TExportFormat) -> str:
    """A row's values written back as one CSV record (used to show a rejected row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="", **_csv_dialect(export_format))  # type: ignore[arg-type]
    writer.writerow(["" if value is None else value for value in values])
    return buffer.getvalue()


def convert_column(column: pa.Array, type_: pa.DataType) -> pa.Array:
    """Cast a binary (or text) column to its output type; raises pa.ArrowInvalid on a bad
    value."""
    text = column.cast(pa.string())  # zero-copy; checks that the bytes are UTF-8
    if type_ == pa.string():
        return text
    if pa.types.is_timestamp(type_):
        return pc.utf8_rtrim(text, characters="Z").cast(_NAIVE_US).cast(type_)
    return text.cast(type_)


def repair_utf8(column: pa.Array) -> tuple[pa.Array, int]:
    """A binary column as text, invalid UTF-8 replaced by U+FFFD; and how many values were."""
    texts: list[str | None] = []
    repaired = 0
    for value in column.to_pylist():
        try:
            texts.append(None if value is None else value.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(value.decode("utf-8", "replace"))
            repaired += 1
    return arrow_literals.texts(texts), repaired


def bad_rows(column: pa.Array, type_: pa.DataType, start: int = 0) -> list[int]:
    """Positions of the values that do not convert, found by bisection (few casts per bad row)."""
    try:
        convert_column(column, type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(column) == 1:
            return [start]
        middle = len(column) // 2
        return bad_rows(column.slice(0, middle), type_, start) + bad_rows(
            column.slice(middle), type_, start + middle
        )
    return []


def type_name(type_: pa.DataType) -> str:
    """How a rejected value's expected type is named in messages."""
    return "timestamp" if pa.types.is_timestamp(type_) else _TYPE_NAMES.get(type_, str(type_))


_LAST_READ_RETURN = 0.02  # seconds for pyarrow's read-ahead thread to leave its last read


class PyarrowHold:
    """Waits until pyarrow has let go of the Python objects a reader of its was given.

    pyarrow's CSV reader keeps its input (a Python stream) and its invalid-row handler and
    may drop them on its own I/O thread, after the reader is closed. That thread takes the
    interpreter lock to drop them, and one that does so while the interpreter exits ends
    the process ("terminate called without an active exception", SIGABRT). The references
    to each object are counted against their number when ``mark()`` was called, before the
    reader was opened (not in the constructor: its call holds references of its own).
    """

    def __init__(self, *given: object) -> None:
        self._given = given
        self._before: list[int] = []

    def mark(self) -> None:
        """Count the references the objects have now, before pyarrow is given them."""
        self._before = self._counts()

    def _counts(self) -> list[int]:
        return [sys.getrefcount(item) for item in self._given]

    def released(self) -> bool:
        return all(now <= before for now, before in zip(self._counts(), self._before, strict=True))

    def wait(self, timeout: float) -> bool:
        """Whether pyarrow let go of every object, waiting up to ``timeout`` seconds."""
        return _wait_until(self.released, timeout)


def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
    """Whether ``done()`` became true, asked every _RELEASE_POLL up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_RELEASE_POLL)
    return True


_RELEASE_POLL = 0.001  # seconds between two counts while pyarrow's I/O thread lets go
_OWN_REFERENCES = 3  # of a value in CsvByteStream._lent, counted in _still_lent


class CsvByteStream(io.RawIOBase):
    """A member's bytes: counted against a limit (zip bombs), NUL bytes dropped, header apart."""

    def __init__(self, raw: IO[bytes], where: str, limit: int) -> None:
        super().__init__()
        self._raw, self._where, self._limit = raw, where, limit
        self._buffer = b""
        self._inflated = 0
        self._eof = False
        self.gate: ReadAheadGate | None = None  # set while pyarrow's reader reads it
        self._stopped = False
        self._reads_done = threading.Condition()  # notified as each read returns
        self._in_flight = 0  # reads under way (pyarrow's read-ahead thread)
        self._last_return = 0.0  # time.monotonic() when the last read returned
        # What read() returned and pyarrow may still hold: it wraps each in a buffer whose
        # release takes the interpreter lock, on whichever thread drops it last.
        self._lent: list[bytes] = []

    def bound_read_ahead(self, limit: int, wait: float) -> ReadAheadGate:
        """From now on, reads wait while ``limit`` reads ahead of the batches taken."""
        self.gate = ReadAheadGate(limit, wait)
        return self.gate

    def readable(self) -> bool:
        return True

    def _pull(self, size: int) -> bytes:
        chunk = self._raw.read(size)
        if not chunk:
            self._eof = True
        self._inflated += len(chunk)
        if self._inflated > self._limit:
            raise ExportFileError(
                f"{self._where} inflates past the limit of {self._limit} bytes "
                "(ZIP_MAX_MEMBER_BYTES, or ZIP_MAX_RATIO x its compressed size) although its "
                "header declares less: refused as a zip bomb"
            )
        return chunk.replace(b"\0", b"") if b"\0" in chunk else chunk

    def stop(self) -> None:
        """Every read from now on returns the end of the input, at once."""
        self._stopped = True
        if self.gate is not None:
            self.gate.open()

    def wait_stopped(self, timeout: float) -> bool:
        """Whether no read is under way, waiting up to ``timeout`` for one to return.

        pyarrow's read-ahead thread goes on reading after its reader is closed; one caught
        calling into Python while the interpreter exits aborts the process (SIGABRT), so a
        reader left early waits here until that thread is out of its reads (and a moment
        more after the last one: nothing in Python can see it return).
        """
        with self._reads_done:
            self._reads_done.wait_for(lambda: not self._in_flight, timeout)
        since_last = time.monotonic() - self._last_return
        if since_last < _LAST_READ_RETURN:
            time.sleep(_LAST_READ_RETURN - since_last)
        return not self._in_flight

    def read(self, size: int | None = -1) -> bytes:
        with self._reads_done:
            self._in_flight += 1
        try:
            if self.gate is not None:
                self.gate.before_read()
            data = b"" if self._stopped else self._read(size)
            if data:
                self._lent = [*self._still_lent(), data]
            return data
        finally:
            with self._reads_done:
                self._in_flight -= 1
                self._last_return = time.monotonic()
                self._reads_done.notify_all()

    def _still_lent(self) -> list[bytes]:
        # A lent value that only this list refers to is one pyarrow has let go of:
        # sys.getrefcount counts the list, the loop's name and its own argument.
        return [data for data in self._lent if sys.getrefcount(data) > _OWN_REFERENCES]

    def wait_returned(self, timeout: float) -> bool:
        """Whether pyarrow let go of every value read() returned, waiting up to ``timeout``."""
        if not _wait_until(lambda: not self._still_lent(), timeout):
            return False
        self._lent = []
        return True

    def _read(self, size: int | None) -> bytes:
        wanted = (1 << 62) if size is None or size < 0 else size
        parts, have = ([self._buffer] if self._buffer else []), len(self._buffer)
        while have < wanted and not self._eof:
            chunk = self._pull(min(wanted - have, 1 << 24))
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self._buffer = data[wanted:]
        return data[:wanted] if len(data) > wanted else data

    def read_header(self) -> bytes | None:
        """The first line without BOM and line break; None for an empty stream."""
        while b"\n" not in self._buffer and not self._eof:
            if len(self._buffer) > _HEADER_MAX_BYTES:
                raise ExportFileError(f"{self._where} has no line break in its first MiB")
            self._buffer += self._pull(_HEADER_CHUNK)
        if not self._buffer:
            return None
        line, _, self._buffer = self._buffer.partition(b"\n")
        if self._buffer.startswith(UTF8_BOM):  # a value, not a mark: pyarrow would skip it
            self._buffer = b"\n" + self._buffer  # a blank line, which pyarrow ignores
        return line.removeprefix(UTF8_BOM).rstrip(b"\r")

    def exhausted(self) -> bool:
        while not self._buffer and not self._eof:
            self._buffer = self._pull(_HEADER_CHUNK)
        return not self._buffer


class LineTracker:
    """Physical line numbers of records, and rejected rows reported in file order.

    pyarrow numbers the records it rejects (1 = first record after the header) but not
    the rows of a batch, and calls its handler for a block before that block's batch, or
    earlier; so rejected records wait in ``pending`` until the records before them are
    counted. A batch's rows are walked event by event, never row by row.
    """

    def __init__(self, emit: Callable[[int | None, str, str], None]) -> None:
        self._emit = emit
        self._ordinal = 1  # pyarrow's number of the next record
        self._offset = 1  # line = ordinal + offset (the header, then breaks inside values)
        self._pending: dict[int, tuple[str, str]] = {}
        self._newlines: dict[int, int] = {}  # line breaks of pending records cut short

    def add_invalid(
        self, number: int | None, text: str, reason: str, *, newlines: int | None = None
    ) -> None:
        """A rejected record; ``newlines``: its line breaks when ``text`` is cut short."""
        if number is None:
            self._emit(None, text, reason)
        else:
            self._pending[number] = (text, reason)
            if newlines is not None:
                self._newlines[number] = newlines

    def restart(self) -> int:
        """Forget rejected records not yet reached; returns the records counted so far."""
        self._pending.clear()
        self._newlines.clear()
        return self._ordinal - 1

    def needs_walk(self, rows: int) -> bool:
        self._flush()
        return any(number < self._ordinal + rows for number in self._pending)

    def skip(self, rows: int, newlines: int) -> None:
        """Count a batch's rows when no rejected record lies among them."""
        self._ordinal += rows
        self._offset += newlines
        self._flush()

    def walk(
        self, rows: int, prefix: Sequence[int] | None, rejected: dict[int, tuple[str, str]]
    ) -> None:
        """Count a batch's rows, reporting its ``rejected`` rows and pending records in order.

        ``prefix[i]`` is the number of line breaks inside the values of rows before row i.
        """
        done = 0
        for index in [*sorted(rejected), rows]:
            self._advance(done, index, prefix)
            done = index
            if index < rows:
                self._emit(self._ordinal + self._offset, *rejected[index])

    def finish(self) -> None:
        self._flush()
        for number in sorted(self._pending):
            self._emit(number + self._offset, *self._pending.pop(number))

    def _advance(self, start: int, stop: int, prefix: Sequence[int] | None) -> None:
        while start < stop:
            self._flush()
            step = stop - start
            if self._pending:
                step = min(step, min(self._pending) - self._ordinal)
            self._ordinal += step
            self._offset += prefix[start + step] - prefix[start] if prefix else 0
            start += step
        self._flush()

    def _flush(self) -> None:
        while (row := self._pending.pop(self._ordinal, None)) is not None:
            self._emit(self._ordinal + self._offset, *row)
            self._offset += self._newlines.pop(self._ordinal, row[0].count("\n"))
            self._ordinal += 1


def column_newlines(batch: pa.RecordBatch) -> list[int]:
    """Line breaks inside each column's values, counted over its data buffer."""
    return [_count_lf(_value_bytes(column)) for column in batch.columns]


def _value_bytes(column: pa.Array) -> bytes:
    buffers = column.buffers()
    if len(column) == 0 or buffers[2] is None:
        return b""
    offsets = pa.Array.from_buffers(
        pa.int32(), len(column) + 1, [None, buffers[1]], offset=column.offset
    )
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return cast(bytes, buffers[2].slice(start, end - start).to_pybytes())


def _count_lf(data: bytes) -> int:
    """bytes.count runs at ~4 GB/s, find (memchr) at >20 GB/s: find while breaks are rare."""
    count, position = 0, data.find(b"\n")
    while position >= 0:
        count += 1
        if count == _FIND_MAX:
            return count - 1 + data.count(b"\n", position)
        position = data.find(b"\n", position + 1)
    return count


def newline_prefix(batch: pa.RecordBatch, per_column: Sequence[int]) -> list[int] | None:
    """Line breaks inside the values of the rows before each row; None if there are none."""
    counts = None
    for column, newlines in zip(batch.columns, per_column, strict=True):
        if newlines:
            found = pc.count_substring(column, "\n")
            column_counts = pc.fill_null(found, arrow_literals.zero(found.type))
            counts = column_counts if counts is None else pc.add(counts, column_counts)
    if counts is None:
        return None
    return [0, *pc.cumulative_sum(counts).to_pylist()]
