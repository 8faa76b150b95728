"""A window's typed batches written to Parquet files in row groups DuckDB loads fastest."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coveo_ua_source.ingest.parquet_files import (
    DUCKDB_ROW_GROUP_ROWS,
    ParquetFiles,
    aligned_group_rows,
)
from coveo_ua_source.warehouse.lakehouse import keeps_load_files

BUDGET = 16 << 20
CHUNKS = 10_000


def _narrow(first: int, rows: int) -> pa.RecordBatch:
    return pa.record_batch({"n": pa.array(range(first, first + rows), pa.int64())})


def _group_sizes(path: Path) -> list[int]:
    metadata = pq.ParquetFile(path).metadata
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


@pytest.mark.parametrize(
    ("bytes_per_row", "rows"),
    [(8, DUCKDB_ROW_GROUP_ROWS), (136, DUCKDB_ROW_GROUP_ROWS), (137, 61_440), (273, 61_440)],
)
def test_the_largest_aligned_row_group_within_the_budget(bytes_per_row: int, rows: int) -> None:
    assert aligned_group_rows(bytes_per_row, BUDGET) == rows


def test_no_aligned_row_group_when_half_of_one_exceeds_the_budget() -> None:
    assert aligned_group_rows(274, BUDGET) is None


def test_narrow_rows_are_written_in_duckdb_sized_row_groups(tmp_path: Path) -> None:
    files = ParquetFiles(tmp_path / "clicks", BUDGET, CHUNKS)
    for first in range(0, 300_000, 7_000):
        files.write(_narrow(first, min(7_000, 300_000 - first)))
    [written] = files.close()
    assert written.rows == 300_000
    assert _group_sizes(written.path) == [122_880, 122_880, 54_240]
    assert pq.read_table(written.path)["n"].to_pylist() == list(range(300_000))


def test_wide_rows_are_written_batch_by_batch(tmp_path: Path) -> None:
    wide = pa.record_batch({"text": pa.array(["x" * 400] * 1_000)})
    files = ParquetFiles(tmp_path / "searches", BUDGET, CHUNKS)
    for _ in range(3):
        files.write(wide)
    [written] = files.close()
    assert _group_sizes(written.path) == [1_000, 1_000, 1_000]


def test_a_file_full_of_column_chunks_is_closed_and_the_next_begun(tmp_path: Path) -> None:
    wide = pa.record_batch({"text": pa.array(["x" * 400] * 1_000), "n": pa.array(range(1_000))})
    files = ParquetFiles(tmp_path / "searches", BUDGET, max_column_chunks=6)
    for _ in range(7):
        files.write(wide)
    written = files.close()
    assert [file.rows for file in written] == [3_000, 3_000, 1_000]
    assert [_group_sizes(file.path) for file in written] == [[1_000] * 3, [1_000] * 3, [1_000]]
    assert len({file.path for file in written}) == 3


def test_narrow_files_are_closed_after_whole_row_groups(tmp_path: Path) -> None:
    files = ParquetFiles(tmp_path / "clicks", BUDGET, max_column_chunks=2)
    for first in range(0, 300_000, 50_000):
        files.write(_narrow(first, 50_000))
    written = files.close()
    assert sum(file.rows for file in written) == 300_000
    assert [file.rows for file in written] == [250_000, 50_000]
    assert _group_sizes(written[0].path) == [122_880, 122_880, 4_240]
    rows = [n for file in written for n in pq.read_table(file.path)["n"].to_pylist()]
    assert rows == list(range(300_000))


def test_a_batch_of_another_schema_starts_the_next_file(tmp_path: Path) -> None:
    files = ParquetFiles(tmp_path / "searches", BUDGET, CHUNKS)
    files.write(_narrow(0, 10))
    files.write(pa.record_batch({"n": pa.array(["text"])}))
    first, second = files.close()
    assert (first.rows, second.rows) == (10, 1)
    assert pq.read_table(second.path).schema.field("n").type == pa.string()
    assert first.path != second.path


def test_only_empty_batches_make_one_empty_file_with_their_columns(tmp_path: Path) -> None:
    files = ParquetFiles(tmp_path / "groups", BUDGET, CHUNKS)
    files.write(_narrow(0, 0))
    [written] = files.close()
    assert written.rows == 0
    assert pq.read_table(written.path).schema.names == ["n"]


def test_no_batch_no_file(tmp_path: Path) -> None:
    assert ParquetFiles(tmp_path / "groups", BUDGET, CHUNKS).close() == []
    assert list(tmp_path.iterdir()) == []


def test_discard_removes_every_file_written(tmp_path: Path) -> None:
    files = ParquetFiles(tmp_path / "searches", BUDGET, CHUNKS)
    files.write(_narrow(0, 10))
    files.write(pa.record_batch({"n": pa.array(["text"])}))  # the second file, still open
    files.discard()
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=90_000), max_size=8))
def test_any_batch_sizes_keep_every_row_in_order(tmp_path_factory, sizes: list[int]) -> None:
    folder = tmp_path_factory.mktemp("files")
    files = ParquetFiles(folder / "keywords", BUDGET, CHUNKS)
    first = 0
    for size in sizes:
        files.write(_narrow(first, size))
        first += size
    written = files.close()
    assert [file.rows for file in written] == ([first] if sizes else [])
    for file in written:
        assert pq.read_table(file.path)["n"].to_pylist() == list(range(first))
        *full, last = _group_sizes(file.path) or [0]
        assert all(size == DUCKDB_ROW_GROUP_ROWS for size in full)
        assert last <= DUCKDB_ROW_GROUP_ROWS


@pytest.mark.parametrize("statistics", [True, False])
def test_column_statistics_are_written_only_when_asked(tmp_path: Path, statistics: bool) -> None:
    files = ParquetFiles(tmp_path / "keywords", BUDGET, CHUNKS, statistics=statistics)
    files.write(_narrow(5, 1_000))
    [written] = files.close()
    column = pq.ParquetFile(written.path).metadata.row_group(0).column(0)
    assert column.is_stats_set is statistics
    if statistics:
        assert (column.statistics.min, column.statistics.max) == (5, 1_004)
    assert pq.read_table(written.path)["n"].to_pylist() == list(range(5, 1_005))


@pytest.mark.parametrize(
    ("destination_type", "keeps"),
    [
        ("filesystem", True),
        ("dlt.destinations.filesystem", True),
        ("duckdb", False),
        ("dlt.destinations.postgres", False),
        ("", False),
    ],
)
def test_only_the_filesystem_destination_keeps_the_load_files(
    destination_type: str, keeps: bool
) -> None:
    assert keeps_load_files(destination_type) is keeps
