"""Append or merge, decided per table per run, under the run's turn.

A table is appended to (no staging copy, no merge) when nothing already in the dataset
can overlap the windows this run plans for it: every planned window starts at or after
the table's committed position, and the table holds no row at or after the first planned
window's start (rows of a partition pipeline, or of a load that never completed, make it
merge). Anything else (a lookback, a re-export, a reset state, a destination that cannot
be asked) keeps the merge. Everything here is pure; ``holdings`` asks the destination.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dlt

from coveo_ua_source.dates import format_utc
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.warehouse.lakehouse import is_delta

logger = logging.getLogger(__name__)

# A run reads each row once: its windows are disjoint and a row lies in the window of
# its datetime. So the staged rows are declared deduplicated, which spares the
# destination a ROW_NUMBER() pass over the staged rows. Rows already loaded are still
# replaced by key.
MERGE: Any = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": True}
# Merging windows with duplicate rows (see repair): the staged rows are deduplicated by key.
REPAIR: Any = {"disposition": "merge", "strategy": "delete-insert"}


def run_dispositions(
    readers: frozenset[str], appending: frozenset[str], repairing: frozenset[str]
) -> dict[str, Any] | None:
    """Each table's write disposition in an incremental run; None (hints untouched) for
    Delta tables. ``repairing``: tables with duplicate rows to merge away."""
    if any(is_delta(table) for table in readers):
        return None
    logger.info("this run appends to %s and merges the others", sorted(appending) or "none")
    return {
        table: REPAIR if table in repairing else "append" if table in appending else MERGE
        for table in readers
    }


def choose_disposition(table: str, dispositions: Mapping[str, Any] | None) -> None:
    """Apply this run's disposition of ``table``; call before its first row reaches dlt."""
    if dispositions is not None and table in dispositions:
        dlt.current.source().resources[table].apply_hints(write_disposition=dispositions[table])


def first_starts(plan: Sequence[PlannedExport]) -> dict[str, datetime]:
    """Each table's first planned window start."""
    starts: dict[str, datetime] = {}
    for planned in plan:
        for table in planned.tables:
            starts[table] = min(starts.get(table, planned.window.start), planned.window.start)
    return starts


def appending_tables(
    starts: Mapping[str, datetime],
    positions: Mapping[str, datetime | None],
    earliest_rows: Mapping[str, datetime] | None,
) -> frozenset[str]:
    """The tables whose planned windows (first one at ``starts``) overlap nothing loaded.

    ``positions``: each table's committed position (None: none). ``earliest_rows``: each
    table's earliest row at or after its start (absent: none), or None when the
    destination cannot say, and then every table merges.
    """
    if earliest_rows is None:
        return frozenset()
    appending: set[str] = set()
    for name, first in starts.items():
        position = positions.get(name)
        if position is not None and first < position:
            continue
        occupied = earliest_rows.get(name)
        if occupied is None:
            appending.add(name)
        elif position is not None:
            logger.warning(
                "%s holds rows from %s on, at or after where this pipeline's loads end "
                "(%s): loaded by another pipeline, or by a load that did not complete; "
                "merging them instead of appending", name, format_utc(occupied),
                format_utc(position),
            )  # fmt: skip
    return frozenset(appending)
