"""What `coveo-ua load` says once a run is done: one summary block, or one JSON object.

``print_summary`` prints what the run's report counted (``runs.tally``: rows, rejected
rows, values that did not parse, repaired values per table; windows planned, repaired and
retried) with the rows dlt loaded and where they are; ``json_summary`` is ``run_load``'s
summary (the same counts) with where the data is. ``WindowLines`` prints a line per
table-window (``--verbose``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console

from coveo_ua_source.cli.tables import titled_table
from coveo_ua_source.exports.types import ProgressEvent, TExportProgress
from coveo_ua_source.runs.report import last_report
from coveo_ua_source.runs.tally import RunTally
from coveo_ua_source.schema import TABLES
from coveo_ua_source.warehouse.bookkeeping import REJECTED_TABLE
from coveo_ua_source.warehouse.dimension_catalog import REJECTED_VALUES_TABLE


class Displays:
    """Every event of a run to each display (the source takes one ``progress``)."""

    def __init__(self, *displays: TExportProgress) -> None:
        self.displays = displays

    def __call__(self, event: ProgressEvent) -> None:
        for display in self.displays:
            display(event)


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


def json_summary(summary: dict[str, Any], pipeline: Any) -> dict[str, Any]:
    """``run_load``'s summary, with where the data is."""
    from coveo_ua_source.cli.pipeline import location

    return {
        **summary,
        "location": location(pipeline),
        "pipelines_dir": str(pipeline.pipelines_dir),
    }


def print_summary(console: Console, pipeline: Any) -> None:
    """The run's summary block: rows per table, what was rejected or repaired and where
    to query it, then where the data is."""
    from coveo_ua_source.cli.pipeline import where_rows

    tally = last_report(pipeline).tally
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
