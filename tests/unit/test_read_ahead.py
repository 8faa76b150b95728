"""pyarrow's streaming reader held to a few reads ahead of the batches taken from it."""

from __future__ import annotations

import io
import threading
import time

import pyarrow.csv as pa_csv

from coveo_ua_source.ingest.csv_text import CsvByteStream
from coveo_ua_source.ingest.read_ahead import ReadAheadGate
from coveo_ua_source.settings import CSV_READ_AHEAD_BLOCKS

BLOCK = 64 << 10
ROWS = b"".join(b"%d,some text of a row,%d\n" % (n, n * 7) for n in range(200_000))


class CountedReads(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


def _reader(stream: CsvByteStream) -> pa_csv.CSVStreamingReader:
    options = pa_csv.ReadOptions(column_names=["a", "b", "c"], block_size=BLOCK, use_threads=False)
    return pa_csv.open_csv(stream, read_options=options)


def _reads_after_one_batch(gate_limit: int | None) -> int:
    raw = CountedReads(b"a,b,c\n" + ROWS)  # about 5 MB: 80 blocks
    stream = CsvByteStream(raw, "test.csv", 1 << 30)
    stream.read_header()
    gate = None if gate_limit is None else stream.bound_read_ahead(gate_limit, wait=30.0)
    reader = _reader(stream)
    reader.read_next_batch()
    if gate is not None:
        gate.taken()
    time.sleep(0.3)  # pyarrow's own thread reads ahead meanwhile, as far as it may
    reads = raw.reads
    if gate is not None:
        gate.open()
    reader.close()
    return reads


def test_pyarrow_reads_ahead_only_as_far_as_the_gate_lets_it() -> None:
    assert _reads_after_one_batch(None) > 16, "unbounded, pyarrow reads far ahead"
    assert _reads_after_one_batch(2) <= 4, "two reads ahead of the batch taken, and the first"


def test_the_batches_are_all_read_through_the_gate_without_a_held_read_expiring() -> None:
    stream = CsvByteStream(io.BytesIO(b"a,b,c\n" + ROWS), "test.csv", 1 << 30)
    stream.read_header()
    gate = stream.bound_read_ahead(CSV_READ_AHEAD_BLOCKS, wait=0.5)
    reader = _reader(stream)
    rows = 0
    for batch in reader:
        gate.taken()
        rows += batch.num_rows
    assert rows == 200_000
    assert gate.expired == 0, "the reader never stalled on the gate"


def _waiting_read(gate: ReadAheadGate) -> threading.Thread:
    thread = threading.Thread(target=gate.before_read, daemon=True)
    thread.start()
    return thread


def test_a_read_waits_for_a_batch_to_be_taken() -> None:
    gate = ReadAheadGate(1, wait=60.0)
    gate.before_read()
    held = _waiting_read(gate)
    held.join(0.2)
    assert held.is_alive(), "one read ahead already: the next one waits"
    gate.taken()
    held.join(10)
    assert not held.is_alive()


def test_a_held_read_goes_on_after_the_wait_and_on_opening() -> None:
    gate = ReadAheadGate(1, wait=0.1)
    gate.before_read()
    late = _waiting_read(gate)
    late.join(10)
    assert not late.is_alive(), "no batch taken, yet the read went on: never a deadlock"
    patient = ReadAheadGate(1, wait=60.0)
    patient.before_read()
    held = _waiting_read(patient)
    patient.open()
    held.join(10)
    assert not held.is_alive()
