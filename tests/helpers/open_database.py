"""DuckDB files kept open while tests load them, so dlt's runs skip reopening them.

dlt opens and closes the database file for each load job and each state or schema query:
each time DuckDB reading the catalog on opening and writing a
checkpoint on closing the last connection. While this process holds a connection, DuckDB
shares the open database with dlt's connections instead. Data, state and schemas still go
through the file as dlt writes them; only the reopening is skipped.

What a held file rules out, so fixtures that hold one say so:
- another process cannot open the file (DuckDB locks it), so a test whose forked or
  subprocess loads write the same file uses a folder that is not held;
- a read-only connection cannot be opened in this process meanwhile (DuckDB refuses a
  second configuration): read through ``connect(path)`` as the helpers do;
- a global DuckDB setting a run makes stays in the held database: a test that checks that
  a run sets one opens it only after the runs that set it before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


class OpenDatabases:
    """DuckDB files held open, each from its first ``hold`` until ``close``."""

    def __init__(self) -> None:
        self._connections: dict[Path, duckdb.DuckDBPyConnection] = {}

    def hold(self, path: Path) -> None:
        if path not in self._connections:
            self._connections[path] = duckdb.connect(str(path))

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


@contextmanager
def databases_kept_open() -> Iterator[OpenDatabases]:
    databases = OpenDatabases()
    try:
        yield databases
    finally:
        databases.close()


@contextmanager
def database_kept_open(path: Path) -> Iterator[None]:
    """Hold a connection to the DuckDB file ``path`` (created if missing) until exit."""
    with databases_kept_open() as databases:
        databases.hold(path)
        yield
