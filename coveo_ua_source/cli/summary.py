"""What `coveo-ua load` says once a run is done: one summary block, or one JSON object.

``RunTally`` counts what the run's progress events report (rows, rejected rows, values
that did not parse, repaired values per table; windows planned, repaired and retried);
``print_summary`` prints it with the rows dlt loaded and where they are; ``json_summary``
is the same as plain values. ``WindowLines`` prints a line per table-window (``--verbose``).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from rich.console import Console

from coveo_ua_source.cli.tables import titled_table
from coveo_ua_source.exports.types import ProgressEvent, TExportProgress
from coveo_ua_source.schema import TABLES
from coveo_ua_source.warehouse.bookkeeping import REJECTED_TABLE
from coveo_ua_source.warehouse.dimension_catalog import REJECTED_VALUES_TABLE

# Per table, what each "rows" event adds up.
_COUNTED = ("rows", "rejected", "rejected_values", "repaired_values")


class RunTally:
    """What a run's progress events report. Pass it as the source's ``progress``; it
    forwards every event to each of ``displays``."""

    def __init__(self, *displays: TExportProgress) -> None:
        self.displays = displays
        self.per_table: dict[str, Counter[str]] = {}
        self.table_windows = 0
        self.exports_planned = 0
        self.repaired_windows: dict[str, int] = {}
        self.retried_windows: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.kind == "rows":
                counts = self.per_table.setdefault(str(event.detail["table"]), Counter())
                for name in _COUNTED:
                    counts[name] += int(event.detail.get(name, 0))
                self.table_windows += 1
            elif event.kind == "planned":
                self.exports_planned = int(event.detail["exports"])
                self.repaired_windows = dict(event.detail.get("repaired_windows", {}))
                self.retried_windows = dict(event.detail.get("retried_windows", {}))
        for display in self.displays:
            display(event)

    def total(self, name: str) -> int:
        """``name`` (one of rows, rejected, rejected_values, repaired_values) over tables."""
        return sum(counts[name] for counts in self.per_table.values())

    def by_table(self, name: str) -> dict[str, int]:
        return {table: counts[name] for table, counts in sorted(self.per_table.items())}


class WindowLines:
    """A line per table-window as it is read: rows, rejected rows and values."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind != "rows":
            return
        detail = event.detail
        extras = [
            f"{detail.get(name, 0):,} {label}"
            for name, label in (
                ("rejected", "rejected row(s)"),
                ("rejected_values", "value(s) loaded as NULL"),
                ("repaired_values", "repaired value(s)"),
            )
            if detail.get(name)
        ]
        text = f"{event.window} {detail['table']}: {detail['rows']:,} rows"
        self._console.print(
            ", ".join([text, *extras]), highlight=False, markup=False, soft_wrap=True
        )


def loaded_rows(pipeline: Any) -> dict[str, int]:
    """The rows dlt loaded per table in the pipeline's last run (its normalize step)."""
    trace = pipeline.last_trace
    normalize = trace.last_normalize_info if trace is not None else None
    return {table: int(n) for table, n in (normalize.row_counts if normalize else {}).items()}


def json_summary(summary: dict[str, Any], pipeline: Any, tally: RunTally) -> dict[str, Any]:
    """``run_load``'s summary, with what the command saw: windows, rejected rows and
    values, repairs and where the data is."""
    from coveo_ua_source.cli.pipeline import location

    return {
        **summary,
        "exports_planned": tally.exports_planned,
        "table_windows": tally.table_windows,
        "rejected_rows": tally.by_table("rejected"),
        "rejected_values": tally.by_table("rejected_values"),
        "repaired_values": tally.by_table("repaired_values"),
        "repaired_windows": dict(sorted(tally.repaired_windows.items())),
        "retried_windows": dict(sorted(tally.retried_windows.items())),
        "location": location(pipeline),
        "pipelines_dir": str(pipeline.pipelines_dir),
    }


def print_summary(console: Console, pipeline: Any, tally: RunTally) -> None:
    """The run's summary block: rows per table, what was rejected or repaired and where
    to query it, then where the data is."""
    from coveo_ua_source.cli.pipeline import where_rows

    loaded = loaded_rows(pipeline)
    title = f"Loaded: {tally.exports_planned} export(s), {tally.table_windows} table-window(s)"
    table = titled_table(console, title)
    for header in ("table", "rows loaded", "rejected rows", "values loaded as NULL"):
        table.add_column(header, overflow="fold")
    for name in TABLES:
        counts = tally.per_table.get(name, Counter())
        table.add_row(
            name,
            f"{loaded.get(name, 0):,}",
            f"{counts['rejected']:,}",
            f"{counts['rejected_values']:,}",
        )
    console.print(table)
    for line in _notes(pipeline.dataset_name, tally):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    for label, value in where_rows(pipeline):
        console.print(f"{label + ':':<18}{value}", highlight=False, markup=False, soft_wrap=True)


def _notes(dataset: str, tally: RunTally) -> list[str]:
    """A line for each thing beyond plain rows that happened: what to query about it."""
    notes = []
    if tally.total("rejected"):
        notes.append(
            f"rejected rows: {tally.total('rejected'):,} (outside their window or unreadable); "
            f"see {dataset}.{REJECTED_TABLE}"
        )
    if tally.total("rejected_values"):
        notes.append(
            f"custom dimension values that did not parse as their type: "
            f"{tally.total('rejected_values'):,}, loaded as NULL; "
            f"see {dataset}.{REJECTED_VALUES_TABLE}"
        )
    if tally.total("repaired_values"):
        notes.append(
            f"text values with invalid UTF-8, loaded with U+FFFD in its place: "
            f"{tally.total('repaired_values'):,}"
        )
    for label, windows in (
        ("windows loaded again to remove duplicate rows", tally.repaired_windows),
        ("windows that failed in an earlier run, retried", tally.retried_windows),
    ):
        if windows:
            per_table = ", ".join(f"{table} {count}" for table, count in sorted(windows.items()))
            notes.append(f"{label}: {per_table}")
    return notes
