"""A reading waits until pyarrow has let go of what it was given before its thread ends.

pyarrow drops the Python stream, the invalid-row handler and the bytes each read returned
on whichever thread lets go of them last, taking the interpreter lock to do so; one of its
threads that does so while the interpreter exits aborts the process. These tests check the
accounting that tells when pyarrow has let go, against pyarrow itself.
"""

from __future__ import annotations

import io

import pyarrow.csv as pa_csv

from coveo_ua_source.ingest.csv_text import CsvByteStream, PyarrowHold

_ROWS = "".join(f"s{i},query {i}\n" for i in range(50_000)).encode()


def _stream() -> CsvByteStream:
    stream = CsvByteStream(io.BytesIO(b"searchId,queryExpression\n" + _ROWS), "test", 1 << 30)
    assert stream.read_header() == b"searchId,queryExpression"
    return stream


def _open(stream: CsvByteStream, handler: object) -> pa_csv.CSVStreamingReader:
    return pa_csv.open_csv(
        stream,
        read_options=pa_csv.ReadOptions(
            column_names=["a", "b"], block_size=16 << 10, use_threads=False
        ),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=handler),
    )


def _skip(row: pa_csv.InvalidRow) -> str:
    return "skip"


def test_the_bytes_read_are_held_while_the_reader_lives_and_returned_after() -> None:
    stream = _stream()
    reader = _open(stream, _skip)
    reader.read_next_batch()
    assert not stream.wait_returned(0), "pyarrow holds the blocks it read ahead"
    rows = sum(batch.num_rows for batch in reader)
    assert rows > 0
    reader.close()
    del reader
    assert stream.wait_returned(1)


def test_the_stream_and_the_handler_are_held_until_the_reader_is_gone() -> None:
    stream, handler = _stream(), _skip
    hold = PyarrowHold(stream, handler)
    hold.mark()
    assert hold.released()
    reader = _open(stream, handler)
    assert not hold.released()
    for _ in reader:
        pass
    reader.close()
    del reader
    assert hold.wait(1)
