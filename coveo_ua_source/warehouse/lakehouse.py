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

from typing import Any

import dlt
import pyarrow as pa
from dlt.extract import DltSource
from dlt.extract.items import DataItemWithMeta

from coveo_ua_source.warehouse.bookkeeping import WINDOWS_TABLE

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
