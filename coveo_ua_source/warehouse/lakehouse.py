"""A Delta lakehouse that merges: ``delta_lakehouse(coveo_ua_source(...))``.

dlt's filesystem destination merges only Delta (or Iceberg) tables, and only with the
``upsert`` strategy, while the connector's tables use ``delete-insert``. ``delta_lakehouse``
switches every table of the source to Delta with ``upsert`` on the same primary keys, so a
lookback or a re-export replaces rows instead of adding them. The bookkeeping tables follow:
``_coveo_ua_windows`` upserts on its key; the rejected rows and values upsert on their
window plus a ``rejected_key`` column (member, line and reason, or column and row key),
so a window loaded again replaces the rows it rejects again (one it no longer rejects stays:
upsert cannot delete rows it is not given).

Needs ``pip install "coveo-ua-source[delta]"`` (the ``deltalake`` package).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltSource

from coveo_ua_source.dlt_internals import DataItemWithMeta
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.warehouse.bookkeeping import WINDOWS_TABLE

logger = logging.getLogger(__name__)

UPSERT: Any = {"disposition": "merge", "strategy": "upsert"}
_WINDOW = ("table_name", "window_start", "window_end")
_TIMESTAMPS: Any = {
    "window_start": {"data_type": "timestamp", "nullable": False},
    "window_end": {"data_type": "timestamp", "nullable": False},
}
# How a rejected row or value is told apart from the others of its window.
_REJECTED_KEY_FIELDS = ("member", "line_number", "reason", "column_name", "row_key")


def delta_lakehouse(source: DltSource) -> DltSource:
    """``source`` with every table loaded as a Delta table that upserts on its primary key."""
    for resource in source.resources.values():
        resource.apply_hints(table_format="delta", write_disposition=UPSERT)
    return source


def keeps_load_files(destination_type: str) -> bool:
    """Whether the destination keeps the load's Parquet files as the table's data (the
    filesystem destination, plain or under a table format), where readers use their
    statistics; a warehouse copies the rows into its own storage."""
    return destination_type.endswith("filesystem")


def is_delta(table: str) -> bool:
    """Whether the current source loads ``table`` as a Delta table (in the extract step)."""
    resource = dlt.current.source().resources.get(table)
    return resource is not None and resource.table_format == "delta"


def for_delta(item: DataItemWithMeta) -> DataItemWithMeta:
    """A bookkeeping item re-hinted to upsert on a key (Delta cannot delete-insert)."""
    hints: Any = item.meta.hints
    table = hints["table_name"]
    rows = [row for row in _as_rows(item.data) if not row.get("_superseded")]
    if table == WINDOWS_TABLE:
        key: tuple[str, ...] = _WINDOW
    else:
        key = (*_WINDOW, "rejected_key")
        rows = [_with_rejected_key(row) for row in rows]
    new_hints = dlt.mark.make_hints(
        table_name=table,
        write_disposition=UPSERT,
        primary_key=key,
        merge_key=[],
        columns=_TIMESTAMPS,
        table_format="delta",
    )
    return dlt.mark.with_hints(rows, new_hints, create_table_variant=True)


# What dlt logs, for each table of each package, when a plain file lake cannot merge: the
# connector says it once per run instead (``explain_plain_lake``).
_FALLBACK_MESSAGES = ("Falling back to `append`", '"hard_delete" column hint')


class _ExplainedByConnector(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(part in message for part in _FALLBACK_MESSAGES)


def explain_plain_lake(
    destination_type: str,
    readers: frozenset[str],
    exports: Sequence[PlannedExport],
    positions: Mapping[str, datetime | None] | None,
) -> None:
    """On a filesystem destination without a table format (which appends what it cannot
    merge): dlt's per-table fallback warnings silenced, and one warning when windows
    already loaded are exported again."""
    if not keeps_load_files(destination_type) or any(is_delta(t) for t in readers):
        return
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(each, _ExplainedByConnector) for each in dlt_logger.filters):
        dlt_logger.addFilter(_ExplainedByConnector())
    repeated = sum(
        1
        for planned in exports
        for table in planned.tables
        if table in readers and _loaded_before(planned.window.start, table, positions)
    )
    if repeated:
        logger.warning(
            "a filesystem destination without a table format appends and cannot replace: "
            "%d table-window(s) loaded before are exported again (lookback, repairs) and "
            "their rows are added a second time; wrap the source in delta_lakehouse(...) "
            "to upsert on the primary keys, or set lookback to PT0S",
            repeated,
        )


def _loaded_before(
    start: datetime, table: str, positions: Mapping[str, datetime | None] | None
) -> bool:
    position = None if positions is None else positions.get(table)
    return position is not None and start < position


def _as_rows(data: Any) -> list[dict[str, Any]]:
    """Dict rows of a bookkeeping item; rejected values come as one Arrow table."""
    if isinstance(data, pa.Table):
        rows: list[dict[str, Any]] = data.drop_columns(["_dlt_load_id", "_dlt_id"]).to_pylist()
        return rows  # without dlt's columns: dlt adds its own to dict rows
    return list(data)


def _with_rejected_key(row: dict[str, Any]) -> dict[str, Any]:
    parts = [str(row[name]) for name in _REJECTED_KEY_FIELDS if name in row]
    cleaned = {name: value for name, value in row.items() if name != "_superseded"}
    return {**cleaned, "rejected_key": "|".join(parts)}
