"""What the destination holds, asked over one connection while a run holds its turn.

- the pipeline's committed state: where each table's last completed load ended, as the
  destination's latest completed load recorded it (a local copy may lag behind another
  worker, or run ahead of a load that never completed);
- which tables hold rows at or after a moment (a run appends only where none are: rows
  of another pipeline, or of a load that did not complete, make it merge);
- the windows of the loads completed since a moment (checked for duplicate keys).

A destination that answers no SQL (a filesystem lake) or cannot be reached answers None
to the SQL questions, and then every table merges and nothing is repaired.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from coveo_ua_source import settings
from coveo_ua_source.dates import Window
from coveo_ua_source.dlt_internals import (
    CommittedState,
    DestinationUndefinedEntity,
    committed_source_state,
)
from coveo_ua_source.warehouse.bookkeeping import FAILED, WINDOWS_TABLE

logger = logging.getLogger(__name__)

TIME_COLUMN = "datetime"  # every table's event time, which places a row in its window
LOADS_TABLE = "_dlt_loads"


@dataclass(frozen=True)
class LoadedWindows:
    """The windows of the loads completed since a moment, and the newest completion."""

    windows: dict[str, list[Window]]
    newest: datetime | None


class DestinationView:
    """The questions a run asks the destination; ``client`` is an open job client."""

    def __init__(self, client: Any | None, pipeline_name: str, sql: bool = True) -> None:
        self._client = client
        self._pipeline_name = pipeline_name
        self.sql: Any | None = getattr(client, "sql_client", None) if client and sql else None

    def committed_state(self) -> CommittedState | None:
        """The source state committed last, with its version (version 0 and {}: none);
        None when the destination keeps no state or cannot say."""
        if self._client is None:
            return None
        try:
            return committed_source_state(
                self._client, self._pipeline_name, settings.SOURCE_SECTION
            )
        except Exception as error:  # the run falls back on its local state, and says so
            logger.warning("could not read the committed state: %s", error)
            return None

    def earliest_rows(self, starts: Mapping[str, datetime]) -> dict[str, datetime] | None:
        """For each table, its earliest row at or after its moment in ``starts`` (tables
        with none are left out); None when the destination cannot say."""
        if self.sql is None:
            return None
        found: dict[str, datetime] = {}
        try:
            for table, start in starts.items():
                earliest = self._earliest(table, start)
                if earliest is not None:
                    found[table] = earliest
        except Exception as error:  # any failure means "merge", never a failed run
            logger.info(
                "merging every table: the destination did not say what it holds (%s)", error
            )
            return None
        return found

    def loaded_windows(self, since: datetime | None) -> LoadedWindows:
        """The windows of ``_coveo_ua_windows`` whose load completed at or after ``since``
        (every completed load when None)."""
        if self.sql is None or not self.exists(WINDOWS_TABLE):
            return LoadedWindows({}, None)
        rows = self._committed_windows(
            "l.inserted_at", *(("l.inserted_at >= %s", since) if since is not None else ())
        )
        found: dict[str, set[Window]] = {}
        newest: datetime | None = None
        for table, start, end, inserted in rows:
            found.setdefault(str(table), set()).add(Window(aware(start), aware(end)))
            newest = aware(inserted) if newest is None else max(newest, aware(inserted))
        return LoadedWindows({t: sorted(w) for t, w in found.items()}, newest)

    def failed_windows(self) -> dict[tuple[str, Window], tuple[int, str]]:
        """The windows ``_coveo_ua_windows`` records as failed by completed loads: for each
        (table, window), the runs that tried it and the last error."""
        if self.sql is None or not self.exists(WINDOWS_TABLE):
            return {}
        try:
            rows = self._committed_windows("w.attempts, w.last_error", "w.status = %s", FAILED)
        except Exception as error:  # a ledger from before failures were recorded
            logger.debug("no failed windows recorded: %s", error)
            return {}
        return {
            (str(table), Window(aware(start), aware(end))): (int(attempts or 1), str(error or ""))
            for table, start, end, attempts, error in rows
        }

    def _committed_windows(self, columns: str, condition: str = "", *params: Any) -> list[Any]:
        """Rows of ``_coveo_ua_windows`` whose load completed: table name, window start and
        end, then ``columns`` (``w.`` the window row, ``l.`` its load), where ``condition``."""
        assert self.sql is not None
        windows = self.sql.make_qualified_table_name(WINDOWS_TABLE)
        loads = self.sql.make_qualified_table_name(LOADS_TABLE)
        query = (
            f"SELECT w.table_name, w.window_start, w.window_end, {columns} "  # noqa: S608
            f"FROM {windows} AS w JOIN {loads} AS l ON l.load_id = w._dlt_load_id "
            f"WHERE l.status = 0{' AND ' + condition if condition else ''}"
        )
        return list(self.sql.execute_sql(query, *params) or [])

    def exists(self, table: str) -> bool:
        """Whether ``table`` exists in the dataset."""
        if self.sql is None:
            return False
        try:
            name = self.sql.make_qualified_table_name(table)
            self.sql.execute_sql(f"SELECT 1 FROM {name} WHERE 1 = 0")  # noqa: S608
        except DestinationUndefinedEntity:
            return False
        return True

    def _earliest(self, table: str, start: datetime) -> datetime | None:
        assert self.sql is not None
        time = self.sql.escape_column_name(TIME_COLUMN)
        name = self.sql.make_qualified_table_name(table)
        query = f"SELECT MIN({time}) FROM {name} WHERE {time} >= %s"  # noqa: S608
        try:
            rows = self.sql.execute_sql(query, start)
        except DestinationUndefinedEntity:
            return None
        value = rows[0][0] if rows else None
        return aware(value) if value is not None else None


@contextmanager
def destination_view(pipeline: Any | None) -> Iterator[DestinationView]:
    """A view of ``pipeline``'s destination over one connection (a connection costs more
    than the questions); an empty view without a pipeline, destination or connection."""
    if pipeline is None or pipeline.destination is None:
        yield DestinationView(None, "")
        return
    name = str(pipeline.pipeline_name)
    try:
        client = pipeline.destination_client()
        client.__enter__()
    except Exception as error:  # a failed question must not stop the load it serves
        logger.warning(
            "could not ask the destination what it holds (%s): every table merges, and "
            "the loads are not checked for duplicate rows", error,
        )  # fmt: skip
        yield DestinationView(None, name)
        return
    try:
        yield DestinationView(client, name, sql=answers_sql(pipeline))
    finally:
        client.__exit__(None, None, None)


def answers_sql(pipeline: Any) -> bool:
    """Whether the pipeline's destination answers SQL (not a filesystem, not none)."""
    destination: Any = pipeline.destination  # None in an extract-only pipeline
    return destination is not None and not destination.destination_type.endswith(".filesystem")


def aware(moment: datetime) -> datetime:
    """A datetime from the destination as aware UTC (some drivers return naive UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
