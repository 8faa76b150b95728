"""Reading one CSV member of an export zip into typed record batches.

pyarrow's streaming reader parses blocks; when it cannot (a record longer than a block,
a malformed row with invalid UTF-8, quoting it reads two ways) the member is read again
record by record through csv_records, after the records already read. Each parsed batch
is typed by ``batch_conversion``; this module numbers the lines of the rows it rejects
and reports them.
"""

from __future__ import annotations

import io
import logging
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from coveo_ua_source.exceptions import ExportFileError
from coveo_ua_source.ingest.batch_conversion import BatchConverter, ReadStats
from coveo_ua_source.ingest.csv_records import LongRecord, split_records
from coveo_ua_source.ingest.csv_text import (
    UTF8_BOM,
    CsvByteStream,
    LineTracker,
    PyarrowHold,
    column_newlines,
    convert_options,
    newline_prefix,
    parse_header,
    parse_options,
)
from coveo_ua_source.ingest.headers import arrow_schema
from coveo_ua_source.ingest.read_ahead import ReadAheadGate
from coveo_ua_source.ingest.reading_memory import reading_pool
from coveo_ua_source.schema import TExportFormat, TTable
from coveo_ua_source.settings import (
    CSV_READ_AHEAD_BLOCKS,
    CSV_READ_AHEAD_STOP_WAIT,
    CSV_READ_AHEAD_WAIT,
    ROW_KEEP_BYTES,
    ZIP_MAX_MEMBER_BYTES,
    ZIP_MAX_RATIO,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RejectedRow:
    """A malformed row left out of the output.

    ``line_number`` is the physical line where the row starts (the header is line 1),
    counting line breaks inside earlier values; it is off by the number of blank lines
    above the row, which the CSV parser skips without numbering. ``raw_text`` is the
    record as read for a wrong field count, and the parsed values written back as CSV
    for a value that does not convert.
    """

    table: str
    member: str
    line_number: int | None
    raw_text: str
    reason: str


def _member_limit(info: zipfile.ZipInfo, where: str) -> int:
    """Bytes the member may decompress to; refuses one whose header already exceeds it."""
    limit = min(ZIP_MAX_MEMBER_BYTES, ZIP_MAX_RATIO * max(info.compress_size, 1))
    if info.file_size > limit:
        raise ExportFileError(
            f"{where} declares {info.file_size} bytes from {info.compress_size} compressed, "
            f"over the limit of {limit} bytes (ZIP_MAX_MEMBER_BYTES={ZIP_MAX_MEMBER_BYTES}, "
            f"ZIP_MAX_RATIO={ZIP_MAX_RATIO}): refused as a possible zip bomb"
        )
    return limit


class _ReadAgain(Exception):  # internal: switch to reading record by record
    """pyarrow met a record longer than its block, one its row handler cannot take (a
    malformed row with invalid UTF-8: pyarrow fails decoding it for the handler), or
    quoting its block chunker and parser read differently (damaged files)."""


class MemberReader:
    """Reads one CSV member of the zip into batches of the output schema."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        zip_path: Path,
        table: TTable,
        member: str,
        *,
        export_format: TExportFormat,
        on_rejected: Callable[[RejectedRow], None] | None,
        stats: ReadStats,
    ) -> None:
        self._archive, self._table, self._member = archive, table, member
        self._format: TExportFormat = export_format
        self._on_rejected = on_rejected
        self._stats = stats
        self._where = f"{zip_path} member {member!r}"
        self._tracker = LineTracker(self._reject)
        self._converter = BatchConverter(pa.schema([]), export_format, stats)
        self._names: list[str] = []

    def batches(self, block_size: int, row_max_bytes: int) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._read(lambda stream: self._parse(stream, block_size))
        except _ReadAgain as reason:
            done = self._tracker.restart()
            logger.info("%s: reading record by record (%s)", self._where, reason)
            split = self._split_parse(done, block_size, row_max_bytes)
            yield from self._read(split)

    def _read(
        self, parse: Callable[[CsvByteStream], Iterator[pa.RecordBatch]]
    ) -> Iterator[pa.RecordBatch]:
        info = self._archive.getinfo(self._member)
        limit = _member_limit(info, self._where)
        try:
            raw = self._archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as error:
            raise ExportFileError(f"{self._where} cannot be opened: {error}") from error
        try:
            with raw:
                yield from parse(CsvByteStream(raw, self._where, limit))
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise ExportFileError(f"{self._where} is corrupt: {error}") from error

    def _parse(self, stream: CsvByteStream, block_size: int) -> Iterator[pa.RecordBatch]:
        headers = self._headers(stream)
        if not headers or stream.exhausted():
            return
        self._names = [f"f{index}" for index in range(len(headers))]
        gate = stream.bound_read_ahead(CSV_READ_AHEAD_BLOCKS, CSV_READ_AHEAD_WAIT)
        handler = self._on_invalid_row
        hold = PyarrowHold(stream, handler)
        hold.mark()
        reader, read_to_the_end = None, False
        try:
            reader = self._open_csv(stream, block_size, handler)
            if reader is not None:
                yield from self._converted(reader, gate)
                self._tracker.finish()
            read_to_the_end = True
        finally:
            stream.stop()  # a read held back must not hold up the close
            if reader is not None:
                reader.close()
            reader = None
            # Until pyarrow's I/O thread is done with our objects. Read to the end: until it
            # let go of them (the stream, the handler, the bytes read; ``hold`` counts the
            # references this frame's are compared with, so it is asked from here). Left
            # early (a traceback may keep the reader): until no read of its is under way.
            wait = CSV_READ_AHEAD_STOP_WAIT
            if read_to_the_end:
                settled = hold.wait(wait) and stream.wait_returned(wait)
            else:
                settled = stream.wait_stopped(wait)
            if not settled:
                logger.warning("%s: pyarrow's read-ahead thread did not stop", self._where)

    def _open_csv(
        self,
        stream: io.RawIOBase | pa.NativeFile,
        block_size: int,
        on_invalid: Callable[[pa_csv.InvalidRow], str],
    ) -> pa_csv.CSVStreamingReader | None:
        try:
            return pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(
                    column_names=self._names, block_size=block_size, use_threads=False
                ),
                parse_options=parse_options(self._format, on_invalid),
                convert_options=convert_options(self._names),
                memory_pool=reading_pool(),
            )
        except pa.ArrowInvalid as error:
            if str(error).startswith("Empty CSV file"):  # only blank lines after the header
                return None
            raise self._csv_error(error) from error

    def _split_parse(
        self, skip: int, block_size: int, row_max_bytes: int
    ) -> Callable[[CsvByteStream], Iterator[pa.RecordBatch]]:
        """Parse the member again record by record, after the ``skip`` records already read."""

        def parse(stream: CsvByteStream) -> Iterator[pa.RecordBatch]:
            stream.read_header()
            records = split_records(
                stream, escaped=self._format == "NO_NEWLINE",
                max_bytes=row_max_bytes, keep_bytes=ROW_KEEP_BYTES,
            )  # fmt: skip
            segment: list[bytes] = []
            size, number = 0, 0
            for record in records:
                number += 1
                if number <= skip:
                    continue
                if isinstance(record, LongRecord) or size + len(record) > block_size:
                    yield from self._parse_segment(segment, number - len(segment))
                    segment, size = [], 0
                if isinstance(record, LongRecord):
                    self._long_record(record, number, row_max_bytes)
                else:
                    segment.append(record)
                    size += len(record)
            yield from self._parse_segment(segment, number + 1 - len(segment))
            self._tracker.finish()

        return parse

    def _parse_segment(self, records: list[bytes], first: int) -> Iterator[pa.RecordBatch]:
        """Whole records, parsed as one block; ``first`` is the number of the first one.

        When pyarrow cannot parse the block, its halves are parsed apart, down to the one
        record at fault, which is rejected.
        """
        try:
            batches = list(self._segment_batches(records, first))
        except _ReadAgain:
            if len(records) == 1:
                self._reject_unparsable(records[0], first)
                return
            middle = len(records) // 2
            yield from self._parse_segment(records[:middle], first)
            yield from self._parse_segment(records[middle:], first + middle)
            return
        yield from batches

    def _reject_unparsable(self, record: bytes, number: int) -> None:
        text = record.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")
        try:
            found = f"found {len(parse_header(text, self._format))}"
        except ValueError:
            found = "cannot split it"
        reason = f"expected {len(self._names)} fields, {found}"
        self._tracker.add_invalid(number, text, reason)
        self._tracker.skip(0, 0)

    def _segment_batches(self, records: list[bytes], first: int) -> Iterator[pa.RecordBatch]:
        if not records:
            return
        data = b"".join(records)  # each with its own line end, as in the file
        if data.startswith(UTF8_BOM):  # a value, not a mark: keep pyarrow from skipping it
            data = b"\n" + data

        def on_invalid(row: pa_csv.InvalidRow) -> str:
            number = None if row.number is None else row.number + first - 1
            return self._on_invalid_row(row._replace(number=number))

        reader = self._open_csv(pa.BufferReader(data), len(data) + 1, on_invalid)
        if reader is None:
            return
        try:
            yield from self._converted(reader)
        finally:
            reader.close()

    def _converted(
        self, reader: pa_csv.CSVStreamingReader, gate: ReadAheadGate | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The reader's batches in the output schema, empty ones left out."""
        while (batch := self._next_batch(reader)) is not None:
            if gate is not None:
                gate.taken()
            converted = self._convert(batch)
            if converted.num_rows:
                yield converted

    def _long_record(self, record: LongRecord, number: int, row_max_bytes: int) -> None:
        reason = (
            f"the row is {record.size} bytes long, over the limit of {row_max_bytes} "
            f"(ROW_MAX_BYTES); only its first {len(record.prefix)} bytes are kept here"
        )
        text = record.prefix.decode("utf-8", "replace")
        self._tracker.add_invalid(number, text, reason, newlines=record.newlines)
        self._tracker.skip(0, 0)

    def _headers(self, stream: CsvByteStream) -> list[str]:
        line = stream.read_header()
        try:
            headers = parse_header(line.decode("utf-8"), self._format) if line else []
            if headers:
                schema = arrow_schema(self._table, headers)
                self._converter = BatchConverter(schema, self._format, self._stats)
        except (UnicodeDecodeError, ExportFileError, ValueError) as error:
            raise ExportFileError(f"{self._where}: bad header line: {error}") from error
        if not headers and not stream.exhausted():
            raise ExportFileError(f"{self._where}: the first line is blank, not a header")
        return headers

    def _next_batch(self, reader: pa_csv.CSVStreamingReader) -> pa.RecordBatch | None:
        try:
            return reader.read_next_batch()
        except StopIteration:
            return None
        except pa.ArrowInvalid as error:
            raise self._csv_error(error) from error

    def _csv_error(self, error: pa.ArrowInvalid) -> Exception:
        text = str(error)
        if "straddl" in text or "out of sync" in text or text.startswith("CSV parse error"):
            return _ReadAgain(text[:200])
        return ExportFileError(f"{self._where} is not a readable CSV: {error}")

    def _on_invalid_row(self, row: pa_csv.InvalidRow) -> str:
        reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        self._tracker.add_invalid(row.number, row.text, reason)
        return "skip"

    def _convert(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch in the output schema; malformed rows reported and left out."""
        arrays, rejected = self._converter.convert(batch)
        per_column = column_newlines(batch)  # one vectorized pass: cheap
        if not rejected and not self._tracker.needs_walk(batch.num_rows):
            self._tracker.skip(batch.num_rows, sum(per_column))
        else:
            self._tracker.walk(batch.num_rows, newline_prefix(batch, per_column), rejected)
        return self._converter.assemble(batch, arrays, rejected)

    def _reject(self, line_number: int | None, raw_text: str, reason: str) -> None:
        row = RejectedRow(self._table, self._member, line_number, raw_text, reason)
        if self._on_rejected is None:
            raise ExportFileError(
                f"{self._where}: malformed row at line {line_number}: {reason}: {raw_text!r:.300}"
            )
        self._on_rejected(row)
