"""Writing one table's typed batches of one export into Parquet files that dlt imports.

The source writes each window's rows itself, on a thread of its own (``ingest/background``),
and hands dlt the finished file (``dlt.mark.with_file_import``) instead of each batch:
dlt's extract then does no per-batch work, and two tables are read, typed and written at
once on the machine's two cores.

Row groups: DuckDB inserts a Parquet file fastest when its row groups hold 122,880 rows
(DuckDB's own row group) or half of that; smaller or other sizes cost the load about 20%
(``docs/performance.md``). Such a row group is buffered in memory until it is written,
so it is used only while it fits ``budget_bytes``; a wider table's batches are written as
they come, one row group each. A batch whose schema differs from the file's starts the
next file, and so does one after ``max_column_chunks`` (row groups x columns): a Parquet
writer keeps each column chunk's metadata, about 0.8 KB, until its file is closed, so an
export's window of millions of rows in one file would hold hundreds of MB.

Statistics (each column chunk's min and max) serve readers that skip row groups; a
warehouse that copies every row into its own storage reads none of them, and computing
them took about a third of the writing (``statistics=False`` for such destinations).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# DuckDB's row group; a Parquet row group of this size or half of it loads fastest.
DUCKDB_ROW_GROUP_ROWS = 122_880
_ALIGNED_SIZES = (DUCKDB_ROW_GROUP_ROWS, DUCKDB_ROW_GROUP_ROWS // 2)


@dataclass(frozen=True)
class WrittenFile:
    """A closed Parquet file: where it is, its rows and its schema."""

    path: Path
    rows: int
    schema: pa.Schema


def aligned_group_rows(bytes_per_row: float, budget_bytes: int) -> int | None:
    """The largest row group DuckDB loads fastest that fits ``budget_bytes``; None if none."""
    for rows in _ALIGNED_SIZES:
        if rows * bytes_per_row <= budget_bytes:
            return rows
    return None


class ParquetFiles:
    """Writes batches to ``<stem>.<n>.parquet`` files beside each other, uncompressed."""

    def __init__(
        self,
        stem: Path,
        budget_bytes: int,
        max_column_chunks: int,
        *,
        statistics: bool = True,
        compression: str = "none",
    ) -> None:
        self._stem, self._budget, self._compression = stem, budget_bytes, compression
        self._statistics = statistics
        self._max_chunks = max_column_chunks
        self._groups = 0  # row groups in the open file
        self._written: list[WrittenFile] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows = 0
        self._group_rows: int | None = None
        self._sized = False
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        """Add ``batch`` to the current file (a new one when its schema differs)."""
        if self._writer is not None and not batch.schema.equals(self._writer.schema):
            self._close_file()
        if self._writer is None:
            self._open(batch)
        self._rows += batch.num_rows
        if not self._sized and batch.num_rows:
            self._sized = True  # sized by the first batch with rows
            self._group_rows = aligned_group_rows(batch.nbytes / batch.num_rows, self._budget)
        if self._group_rows is None:
            self._write_rows(pa.Table.from_batches([batch]))
        else:
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
            if self._pending_rows >= self._group_rows:
                self._write_full_groups()
        if self._groups * len(batch.schema) >= self._max_chunks:
            self._close_file()

    def close(self) -> list[WrittenFile]:
        """Write what is buffered and close; the files written, in order."""
        self._close_file()
        return list(self._written)

    def discard(self) -> None:
        """Close and delete every file written so far (the read failed or was stopped)."""
        if self._writer is not None:
            self._writer.close()
        paths = [file.path for file in self._written]
        paths += [self._path] if self._writer is not None and self._path is not None else []
        self._writer, self._pending, self._written = None, [], []
        for path in paths:
            path.unlink(missing_ok=True)

    def _open(self, batch: pa.RecordBatch) -> None:
        self._path = self._stem.with_name(f"{self._stem.name}.{len(self._written)}.parquet")
        self._writer = pq.ParquetWriter(
            self._path,
            batch.schema,
            compression=self._compression,
            write_statistics=self._statistics,
        )
        self._rows, self._groups = 0, 0

    def _write_full_groups(self) -> None:
        assert self._group_rows is not None
        buffered = pa.Table.from_batches(self._pending)
        whole = buffered.num_rows - buffered.num_rows % self._group_rows
        self._write_rows(buffered.slice(0, whole), self._group_rows)
        rest = buffered.slice(whole)
        self._pending, self._pending_rows = rest.to_batches(), rest.num_rows

    def _write_rows(self, rows: pa.Table, group_rows: int | None = None) -> None:
        assert self._writer is not None
        if rows.num_rows:
            self._writer.write_table(rows, row_group_size=group_rows)
            self._groups += -(-rows.num_rows // (group_rows or rows.num_rows))

    def _close_file(self) -> None:
        if self._writer is None:
            return
        if self._pending:
            self._write_rows(pa.Table.from_batches(self._pending, schema=self._writer.schema))
        self._writer.close()
        assert self._path is not None
        self._written.append(WrittenFile(self._path, self._rows, self._writer.schema))
        self._writer, self._pending, self._pending_rows = None, [], 0
