"""One run's plan, made twice: first from what the worker knows, then under the run's turn.

``first_plan`` uses the worker's local state (or, in partition mode, only the range): the
run starts building those exports at once, while it waits for its turn. ``final_plan``
is made under the turn from what the destination holds: the positions of the latest
completed load (another worker may have loaded since, or a local load may never have
completed), the windows to repair, and each table's disposition. When both plans agree
(the usual case) the exports already under way are the run's; otherwise the run starts
the final plan's exports, reattaching to those the first plan created.

``plan_load`` (the dry run) calls ``final_plan`` too, without a turn: it shows what a
load would do now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.arguments import WindowRange, planned_end
from coveo_ua_source.dates import Window, format_utc, parse_datetime
from coveo_ua_source.exports.present import service_present
from coveo_ua_source.exports.sizing import size_plan
from coveo_ua_source.exports.types import ExportRequest
from coveo_ua_source.exports.windows import (
    PlannedExport,
    check_export_count,
    ending_by,
    plan_exports,
)
from coveo_ua_source.runs.holdings import DestinationView
from coveo_ua_source.runs.load_path import appending_tables, first_starts
from coveo_ua_source.runs.repair import damaged_windows, with_repairs
from coveo_ua_source.schema import TTable

logger = logging.getLogger(__name__)

POSITION_KEY = "last_end"  # in each table resource's state: where its last window ended
CHECKED_KEY = "loads_checked_through"  # in the source state: see runs/repair.py


@dataclass(frozen=True)
class Planned:
    """A plan before and after sizing (estimates attached, oversized windows split)."""

    unsized: list[PlannedExport]
    sized: list[PlannedExport]


@dataclass(frozen=True)
class RunPlan:
    """What one run exports and how it loads each table."""

    exports: list[PlannedExport]
    # Each table's committed position (incremental runs); None in partition mode.
    positions: dict[str, datetime | None] | None
    appending: frozenset[str]  # tables this run appends to (the others merge)
    repairing: frozenset[str]  # tables with windows of duplicate rows to merge away
    checked_through: datetime | None  # where the next duplicate check starts
    committed_version: int | None = None  # the version of the committed state planned from
    # The windows earlier runs failed to get, per (table, window): attempts, last error.
    failed_before: Mapping[tuple[str, Window], tuple[int, str]] = field(default_factory=dict)
    # Windows loaded again per table: held duplicate rows, or failed in an earlier run.
    repaired_windows: Mapping[str, int] = field(default_factory=dict)
    retried_windows: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanInputs:
    """What both plans are made from: the windows, the request, the tables read, the end."""

    windows: WindowRange
    request: ExportRequest
    readers: frozenset[str]
    end: datetime
    partition: bool
    # dlt's refresh (drop_sources, ...) reset the local state on purpose: plan from it
    refreshed: bool = False
    on_estimate: Callable[[int, int, PlannedExport], None] | None = None  # sizing progress

    @property
    def tables(self) -> list[TTable]:
        return [table for table in self.windows.tables if table in self.readers]


def first_plan(
    inputs: PlanInputs, client: CoveoClient, positions: Mapping[str, datetime | None] | None
) -> Planned:
    """The plan from the worker's local ``positions`` (None in partition mode), sized."""
    unsized = _windows(inputs, positions)
    return Planned(unsized, _sized(client, inputs, unsized))


def final_plan(
    view: DestinationView,
    inputs: PlanInputs,
    client: CoveoClient,
    local_state: Mapping[str, Any] | None,
    first: Planned | None = None,
) -> RunPlan:
    """The plan from what the destination holds. ``local_state``: the worker's source
    state, used only when the destination keeps none (None in partition mode)."""
    failed = view.failed_windows()
    if inputs.partition:
        unsized = _windows(inputs, None)
        check_export_count(unsized, inputs.windows.max_exports)
        exports = _reuse_or_size(client, inputs, unsized, first)
        return RunPlan(exports, None, frozenset(), frozenset(), None, failed_before=failed)
    committed = None if inputs.refreshed else view.committed_state()
    state = committed.source_state if committed is not None else local_state or {}
    positions = positions_from_state(state, inputs.tables)
    damaged, checked = damaged_windows(view, inputs.tables, _checked_through(state))
    retried = _retries(failed, inputs)
    unsized = with_repairs(with_repairs(_windows(inputs, positions), damaged), retried)
    check_export_count(unsized, inputs.windows.max_exports)
    starts = first_starts(unsized)
    appending = appending_tables(starts, positions, view.earliest_rows(starts))
    exports = _reuse_or_size(client, inputs, unsized, first)
    version = None if committed is None else committed.version
    return RunPlan(
        exports, positions, appending, frozenset(damaged), checked, version, failed_before=failed,
        repaired_windows=_counts(damaged), retried_windows=_counts(retried),
    )  # fmt: skip


def _counts(windows: Mapping[TTable, Sequence[Window]]) -> dict[str, int]:
    return {table: len(each) for table, each in windows.items() if each}


def _retries(
    failed: Mapping[tuple[str, Window], tuple[int, str]], inputs: PlanInputs
) -> dict[TTable, list[Window]]:
    """The failed windows of this run's tables and range, to try again."""
    retried: dict[TTable, list[Window]] = {}
    for (table, window), (attempts, error) in sorted(failed.items()):
        if table in inputs.tables and window.start >= inputs.windows.start:
            logger.warning(
                "%s %s failed in %d earlier run(s) (last error: %s): trying it again",
                table, window, attempts, error,
            )  # fmt: skip
            retried.setdefault(table, []).append(window)
    return retried


def positions_from_state(
    source_state: Mapping[str, Any], tables: Sequence[TTable]
) -> dict[str, datetime | None]:
    """Each table's position in a coveo_ua source state (None: never loaded)."""
    resources = source_state.get("resources", {})
    positions: dict[str, datetime | None] = {}
    for table in tables:
        last_end = resources.get(table, {}).get(POSITION_KEY)
        positions[table] = parse_datetime(last_end, POSITION_KEY) if last_end else None
    return positions


def _checked_through(state: Mapping[str, Any]) -> datetime | None:
    value = state.get(CHECKED_KEY)
    return parse_datetime(value, CHECKED_KEY) if value else None


def checked_value(moment: datetime | None) -> str | None:
    """How ``RunPlan.checked_through`` is kept in the source state."""
    return None if moment is None else format_utc(moment)


def _windows(
    inputs: PlanInputs, positions: Mapping[str, datetime | None] | None
) -> list[PlannedExport]:
    windows = inputs.windows
    ahead = sorted(
        table for table, position in (positions or {}).items()
        if position is not None and position > inputs.end
    )  # fmt: skip
    if ahead and windows.end is not None:
        logger.warning(
            "end_date %s is before where %s %s loaded (%s): nothing to load there; to load "
            "an earlier range again, use partition=True (a partition pipeline)",
            format_utc(inputs.end), ", ".join(ahead), "is" if len(ahead) == 1 else "are",
            format_utc(max(p for p in positions.values() if p is not None)),  # type: ignore[union-attr]
        )  # fmt: skip
    lookback = timedelta(0) if inputs.partition else windows.lookback
    chosen: dict[str, datetime | None] = {
        table: None if positions is None else positions.get(table) for table in inputs.tables
    }
    return plan_exports(windows.start, inputs.end, windows.window, chosen, lookback)


def _reuse_or_size(
    client: CoveoClient, inputs: PlanInputs, unsized: list[PlannedExport], first: Planned | None
) -> list[PlannedExport]:
    if first is not None and first.unsized == unsized:
        return first.sized  # estimated a moment ago: not asked again
    return _sized(client, inputs, unsized)


def _sized(
    client: CoveoClient, inputs: PlanInputs, unsized: list[PlannedExport]
) -> list[PlannedExport]:
    """Refuse too many exports (before any request), stop at the service's present, and
    size."""
    check_export_count(unsized, inputs.windows.max_exports)
    if unsized:
        unsized = ending_by(unsized, planned_end(inputs.windows, service_present(client)))
    return size_plan(client, unsized, inputs.request, inputs.windows.min_window, inputs.on_estimate)
