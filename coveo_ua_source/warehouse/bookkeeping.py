"""Bookkeeping tables loaded beside the data: what each window loaded, and rejected rows.

``_coveo_ua_windows``: one row per (table, window): the export id, the service's estimate,
the rows loaded and rejected, the status and when it was loaded. It answers "which
windows are in the warehouse, and did each load what Coveo said it had?".

``_coveo_ua_rejected_rows``: every malformed CSV row, with its table, window, member,
line number, raw text and reason. Rows are never dropped silently.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc

from coveo_ua_source import settings
from coveo_ua_source.dates import Window
from coveo_ua_source.dlt_internals import (
    DataItemWithMeta,
    TTableSchema,
    active_pipeline,
    new_dlt_id,
)
from coveo_ua_source.exports.types import ReadyExport
from coveo_ua_source.ingest import arrow_literals
from coveo_ua_source.ingest.archive import RejectedRow

logger = logging.getLogger(__name__)

BOOKKEEPING_RESOURCE = "coveo_ua_bookkeeping"  # the resource that owns both tables
WINDOWS_TABLE = "_coveo_ua_windows"
REJECTED_TABLE = "_coveo_ua_rejected_rows"
FAILED = "failed"  # the status of a window the service could not give
ERROR_TEXT_LIMIT = 2000  # characters of a failed window's last error that are kept

_WINDOWS_HINTS = dlt.mark.make_hints(
    table_name=WINDOWS_TABLE,
    write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    primary_key=("table_name", "window_start", "window_end"),
    columns={
        "window_start": {"data_type": "timestamp", "nullable": False},
        "window_end": {"data_type": "timestamp", "nullable": False},
        "estimated_rows": {"data_type": "bigint"},
        "repaired_values": {"data_type": "bigint"},
        "loaded_at": {"data_type": "timestamp"},
        "attempts": {"data_type": "bigint"},
        "last_error": {"data_type": "text"},
    },
)


# Each load of a (table, window) replaces that window's rejected rows: the merge key is the
# window, and a marker row flagged `_superseded` makes dlt delete the earlier rows even
# when this load rejected nothing (the flagged row itself is not inserted). A destination
# that cannot merge (a plain filesystem lake appends) would store the marker as a rejected
# row, so there no marker is sent.
def window_replaced_hints(table_name: str, columns: dict[str, Any]) -> Any:
    """Hints of a table whose rows a window's next load replaces (merge key: the window)."""
    return dlt.mark.make_hints(
        table_name=table_name,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        merge_key=("table_name", "window_start", "window_end"),
        primary_key=[],  # not the data table's key, which the resource's hints would lend it
        columns={
            "window_start": {"data_type": "timestamp", "nullable": False},
            "window_end": {"data_type": "timestamp", "nullable": False},
            "export_id": {"data_type": "text"},
            **columns,
            "_superseded": {"data_type": "bool", "hard_delete": True},
        },
    )


_REJECTED_HINTS = window_replaced_hints(
    REJECTED_TABLE,
    {
        "member": {"data_type": "text"},
        "line_number": {"data_type": "bigint"},
        "raw_text": {"data_type": "text"},
        "reason": {"data_type": "text"},
    },
)


def coverage_item(
    table: str,
    ready: ReadyExport,
    loaded: int,
    rejected: int,
    repaired: int = 0,
    rejected_values: int = 0,
) -> DataItemWithMeta:
    """The ``_coveo_ua_windows`` row of one table's window, marked for its table.

    ``repaired``: text values whose invalid UTF-8 was replaced by U+FFFD;
    ``rejected_values``: custom dimension values that did not parse, loaded as NULL.
    """
    estimated = ready.estimates.get(table)
    row: dict[str, Any] = {
        "table_name": table,
        "window_start": ready.window.start,
        "window_end": ready.window.end,
        "export_id": ready.export_id,
        "estimated_rows": estimated,
        "loaded_rows": loaded,
        "rejected_rows": rejected,
        "repaired_values": repaired,
        "rejected_values": rejected_values,
        "status": _status(estimated, loaded),
        "loaded_at": datetime.now(UTC),
    }
    if row["status"] != "loaded":
        logger.warning(
            "%s %s: loaded %d rows but the service estimated %s (tolerance %.0f%%); "
            "check _coveo_ua_rejected_rows and the export %s",
            table, ready.window, loaded, estimated, settings.ESTIMATE_TOLERANCE * 100,
            ready.export_id,
        )  # fmt: skip
    return dlt.mark.with_hints([row], _WINDOWS_HINTS, create_table_variant=True)


def failed_item(
    table: str, window: Window, estimated: int | None, attempts: int, error: str
) -> DataItemWithMeta:
    """The ``_coveo_ua_windows`` row of a window the service could not give: status
    ``failed``, with the runs that tried it and the last error. Its load replaces it."""
    row: dict[str, Any] = {
        "table_name": table,
        "window_start": window.start,
        "window_end": window.end,
        "export_id": None,
        "estimated_rows": estimated,
        "loaded_rows": 0,
        "rejected_rows": 0,
        "repaired_values": 0,
        "rejected_values": 0,
        "status": FAILED,
        "loaded_at": datetime.now(UTC),
        "attempts": attempts,
        "last_error": error[:ERROR_TEXT_LIMIT],
    }
    return dlt.mark.with_hints([row], _WINDOWS_HINTS, create_table_variant=True)


def rejected_item(
    table: str, ready: ReadyExport, rejected: Sequence[RejectedRow]
) -> DataItemWithMeta:
    """This window's ``_coveo_ua_rejected_rows`` rows (maybe none), replacing earlier ones."""
    if rejected:
        logger.warning(
            "%s %s: %d malformed row(s) kept in %s, e.g. line %s: %s",
            table, ready.window, len(rejected), REJECTED_TABLE,
            rejected[0].line_number, rejected[0].reason, extra=settings.IN_RUN_SUMMARY,
        )  # fmt: skip
    details = [
        {
            "member": row.member,
            "line_number": row.line_number,
            "raw_text": row.raw_text,
            "reason": row.reason,
        }
        for row in rejected
    ]
    return window_replaced_item(table, ready, details, _REJECTED_HINTS)


def window_replaced_item(
    table: str, ready: ReadyExport, details: Sequence[dict[str, Any]], hints: Any
) -> DataItemWithMeta:
    """One window's rows of a table built with ``window_replaced_hints``: each of
    ``details`` with the window's columns, after a marker that deletes the window's
    earlier rows where the destination merges."""
    window = {
        "table_name": table,
        "window_start": ready.window.start,
        "window_end": ready.window.end,
        "export_id": ready.export_id,
    }
    markers = [{**window, "_superseded": True}] if destination_merges() else []
    rows = [{**window, **detail, "_superseded": False} for detail in details]
    return dlt.mark.with_hints([*markers, *rows], hints, create_table_variant=True)


def window_replaced_table(
    table: str, ready: ReadyExport, details: pa.Table, hints: Any
) -> DataItemWithMeta:
    """Like ``window_replaced_item`` for many rows: one Arrow table, which dlt writes to
    Parquet and the destination copies in bulk, where dict rows become one INSERT each.

    It carries ``_dlt_load_id`` and a unique ``_dlt_id`` as dlt adds them to dict rows, so
    a table first loaded from dict rows (their columns are NOT NULL) takes these rows too.
    """
    if destination_merges():
        marker = [pa.nulls(1, field.type) for field in details.schema]
        details = pa.concat_tables([pa.Table.from_arrays(marker, schema=details.schema), details])
        superseded = pa.concat_arrays([_repeat(True, 1), _repeat(False, details.num_rows - 1)])
    else:
        superseded = _repeat(False, details.num_rows)
    rows = details.num_rows
    window: list[tuple[pa.Field, pa.Array]] = [
        (_key_field("table_name", pa.string()), _repeat(table, rows)),
        (_key_field("window_start", _TIMESTAMP), _repeat(ready.window.start, rows)),
        (_key_field("window_end", _TIMESTAMP), _repeat(ready.window.end, rows)),
        (pa.field("export_id", pa.string()), _repeat(ready.export_id, rows)),
    ]
    load_id = dlt.current.load_package_state()["load_id"]
    dlt_columns: list[tuple[pa.Field, pa.Array]] = [
        (pa.field("_superseded", pa.bool_()), superseded),
        (_key_field("_dlt_load_id", pa.string()), _repeat(load_id, rows)),
        (_key_field("_dlt_id", pa.string()), _row_ids(rows)),
    ]
    pairs = [*window, *zip(details.schema, details.columns, strict=True), *dlt_columns]
    schema = pa.schema([field for field, _ in pairs])
    data = pa.Table.from_arrays([column for _, column in pairs], schema=schema)
    return dlt.mark.with_hints(data, hints, create_table_variant=True)


def joined_by_table(items: Sequence[DataItemWithMeta]) -> list[DataItemWithMeta]:
    """``items`` with the rows of each table and hints joined into one item, in the order
    each first came.

    dlt computes a table's schema again for every item that carries hints (about 3 ms
    each), and three come per table and window; joined, the rows still go to the same
    load package and the same merge.
    """
    groups: list[list[DataItemWithMeta]] = []
    for item in items:
        group = next((group for group in groups if _joins(group[0], item)), None)
        if group is None:
            groups.append([item])
        else:
            group.append(item)
    return [_joined(group) for group in groups]


def _joins(first: DataItemWithMeta, item: DataItemWithMeta) -> bool:
    same_hints = first.meta.hints == item.meta.hints  # tells a Delta table's upserts apart
    if not same_hints or first.meta.create_table_variant != item.meta.create_table_variant:
        return False
    if isinstance(first.data, pa.Table):
        return isinstance(item.data, pa.Table) and first.data.schema.equals(item.data.schema)
    return isinstance(first.data, list) and isinstance(item.data, list)


def _joined(group: Sequence[DataItemWithMeta]) -> DataItemWithMeta:
    if len(group) == 1:
        return group[0]
    first = group[0]
    if isinstance(first.data, pa.Table):
        data: Any = pa.concat_tables(item.data for item in group)
    else:
        data = [row for item in group for row in item.data]
    return DataItemWithMeta(first.meta, data)


_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _row_ids(rows: int) -> pa.Array:
    """``rows`` unique ``_dlt_id`` values: a random id like dlt's, then the row's number.

    Built column-wise: dlt's own generator takes about 3 us per id.
    """
    numbers = pc.cast(pc.cumulative_sum(_repeat(1, rows)), pa.string())
    prefix, empty = arrow_literals.text(new_dlt_id() + "-"), arrow_literals.text("")
    return pc.binary_join_element_wise(prefix, numbers, empty)


def _key_field(name: str, arrow_type: pa.DataType) -> pa.Field:
    return pa.field(name, arrow_type, nullable=False)  # as the hints declare: no dlt warning


def _repeat(value: str | bool | int | datetime, rows: int) -> pa.Array:
    return pa.repeat(_scalar(value), rows)


def _scalar(value: str | bool | int | datetime) -> pa.Scalar:
    """``value`` as an Arrow scalar, without pyarrow's conversion (see arrow_literals)."""
    if isinstance(value, str):
        return arrow_literals.text(value)
    if isinstance(value, bool):
        return arrow_literals.boolean(value)
    if isinstance(value, int):
        return arrow_literals.integer(value)
    return arrow_literals.timestamp(value, _TIMESTAMP)


def destination_merges() -> bool:
    """Whether the running pipeline's destination applies delete-insert merges here.

    Without a destination (extract only) the merge hints decide later, so markers are kept.
    """
    destination: Any = active_pipeline().destination
    if destination is None:
        return True
    if destination not in _MERGES:
        _MERGES[destination] = _merges(destination)
    return _MERGES[destination]


# capabilities() resolves the destination's configuration each time it is called: asked
# once per destination, not once per window and table
_MERGES: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _merges(destination: Any) -> bool:
    capabilities = destination.capabilities()
    strategies = capabilities.supported_merge_strategies or []
    selector = capabilities.merge_strategies_selector
    if selector is not None:
        table: TTableSchema = {"name": REJECTED_TABLE, "write_disposition": "merge"}
        strategies = selector(strategies, table_schema=table)
    return "delete-insert" in strategies


def _status(estimated: int | None, loaded: int) -> str:
    if estimated is None:
        return "loaded"
    if loaded < estimated * (1 - settings.ESTIMATE_TOLERANCE):
        return "below_estimate"
    if loaded > estimated * (1 + settings.ESTIMATE_TOLERANCE):
        return "above_estimate"
    return "loaded"
