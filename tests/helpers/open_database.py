"""A DuckDB file kept open while a test fixture loads it, so runs skip reopening it.

dlt opens and closes the database file for each load job and each state or schema query:
about 20-40 ms a time in these tests, DuckDB reading the catalog on opening and writing a
checkpoint on closing the last connection. While this process holds a connection, DuckDB
shares the open database with dlt's connections instead. It pays where the tasks' lean
defaults make dlt load one job at a time, each job on a connection of its own (measured
on the partition tasks of test_orchestration.py: 8.3 s of CPU down to 4.7-5.0 s; plain
runs of test_production.py, loading with dlt's thread pool, gained little). Data, state
and schemas still go through the file as dlt writes them; only the reopening is skipped.
Read-only connections to the same file cannot be opened in this process meanwhile (DuckDB
refuses a second configuration), so use it only around loads read back through dlt. Where
a test checks that a run sets a global DuckDB setting, open it only after the runs that
set it before (the held database keeps what an earlier run set).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


@contextmanager
def database_kept_open(path: Path) -> Iterator[None]:
    """Hold a connection to the DuckDB file ``path`` (created if missing) until exit."""
    connection = duckdb.connect(str(path))
    try:
        yield
    finally:
        connection.close()
