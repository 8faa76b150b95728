"""What `coveo-ua plan` prints: progress while it asks for estimates, then the totals.

The duration estimate is rough on purpose: Coveo publishes no build time for an export,
so it assumes ``PLAN_BUILD_SECONDS`` per export with ``max_concurrent_exports`` built at
once, plus the rows at the load rate of ``make bench`` (``PLAN_ROWS_PER_SECOND``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from coveo_ua_source import settings
from coveo_ua_source.cli.tables import titled_table
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.schema import TABLES


@dataclass(frozen=True)
class TableTotals:
    """One table's share of a plan."""

    table: str
    windows: int
    estimated_rows: int


def estimate_progress(target: Console) -> Callable[[int, int, PlannedExport], None]:
    """A callback printing ``estimating rows: window k of n`` about ten times a plan."""

    def report(number: int, total: int, planned: PlannedExport) -> None:
        step = max(1, total // 10)
        if number in (1, total) or number % step == 0:
            target.print(
                f"estimating rows: window {number} of {total} {planned.window}",
                highlight=False, soft_wrap=True,
            )  # fmt: skip

    return report


def table_totals(plan: Sequence[PlannedExport]) -> list[TableTotals]:
    """Windows and estimated rows per table, in the canonical table order."""
    totals: list[TableTotals] = []
    for table in TABLES:
        carrying = [planned for planned in plan if table in planned.tables]
        if carrying:
            rows = sum(planned.estimates.get(table, 0) for planned in carrying)
            totals.append(TableTotals(table, len(carrying), rows))
    return totals


def estimated_seconds(plan: Sequence[PlannedExport], max_concurrent: int) -> float:
    """Builds in batches of ``max_concurrent``, then every estimated row at the load rate."""
    if not plan:
        return 0.0
    batches = math.ceil(len(plan) / max(1, max_concurrent))
    rows = sum(sum(planned.estimates.values()) for planned in plan)
    return batches * settings.PLAN_BUILD_SECONDS + rows / settings.PLAN_ROWS_PER_SECOND


def duration_text(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


def print_plan(
    target: Console,
    plan: Sequence[PlannedExport],
    config: Mapping[str, Any],
    *,
    show_windows: bool,
) -> None:
    if show_windows:
        _print_windows(target, plan)
    table = titled_table(target, f"{len(plan)} export(s) planned")
    for header in ("table", "windows", "estimated rows"):
        table.add_column(header)
    for totals in table_totals(plan):
        table.add_row(totals.table, f"{totals.windows:,}", f"{totals.estimated_rows:,}")
    target.print(table)
    concurrent = int(config.get("max_concurrent_exports") or 1)
    target.print(
        f"estimated duration: {duration_text(estimated_seconds(plan, concurrent))} "
        f"({len(plan)} exports, {concurrent} built at a time at an assumed "
        f"{settings.PLAN_BUILD_SECONDS:.0f} s each, plus the rows at "
        f"{settings.PLAN_ROWS_PER_SECOND:,} rows/s)",
        highlight=False, soft_wrap=True,
    )  # fmt: skip


def _print_windows(target: Console, plan: Sequence[PlannedExport]) -> None:
    table = titled_table(target, "windows")
    for header in ("window", "tables", "estimated rows"):
        table.add_column(header, overflow="fold")
    for planned in plan:
        estimates = ", ".join(f"{t} {n:,}" for t, n in planned.estimates.items())
        table.add_row(str(planned.window), ", ".join(planned.tables), estimates)
    target.print(table)
