"""Rows in their window: a row whose ``datetime`` lies outside the export's window is refused.

A window's export holds the rows of ``[start, end)``. A row outside it (a service that
answered with too wide a range, or with a neighbour's rows) belongs to another window,
which loads it from its own export: loading it here too would double it there. It is
kept as a rejected row instead, with its values as JSON and the reason. Pure: no I/O.
"""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from coveo_ua_source.dates import Window, format_utc
from coveo_ua_source.ingest import arrow_literals
from coveo_ua_source.ingest.member import RejectedRow

TIME_COLUMN = "datetime"


def keep_inside(
    batch: pa.RecordBatch, window: Window, table: str
) -> tuple[pa.RecordBatch, list[RejectedRow]]:
    """``batch`` without its rows outside ``window``, and those rows as rejected rows.

    Rows without a ``datetime`` are kept: nothing places them in another window.
    """
    if TIME_COLUMN not in batch.schema.names:
        return batch, []
    moments = batch.column(TIME_COLUMN)
    start = arrow_literals.timestamp(window.start, moments.type)
    end = arrow_literals.timestamp(window.end, moments.type)
    inside = pc.and_(pc.greater_equal(moments, start), pc.less(moments, end))
    keep = pc.fill_null(inside, arrow_literals.boolean(True))
    if pc.all(keep).as_py():
        return batch, []
    outside = batch.filter(pc.invert(keep))
    return batch.filter(keep), [_rejected(row, window, table) for row in outside.to_pylist()]


def _rejected(row: dict[str, object], window: Window, table: str) -> RejectedRow:
    moment = row[TIME_COLUMN]
    when = format_utc(moment) if isinstance(moment, datetime) else str(moment)
    return RejectedRow(
        table=table,
        member=f"{table} file",
        line_number=None,
        raw_text=json.dumps(row, default=str, sort_keys=True),
        reason=f"datetime {when} is outside the export's window {window}: another window's row",
    )
