"""What a run read, counted from its progress events: the same figures for every entry
point (``coveo-ua load``, ``run_load``, the orchestration helpers)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from coveo_ua_source.exports.types import ProgressEvent

# Per table, what each "rows" event adds up.
COUNTED = ("rows", "rejected", "rejected_values", "repaired_values")


class RunTally:
    """Counts the "planned" and "rows" events of one run (thread-safe: tables are read in
    dlt's extract threads)."""

    def __init__(self) -> None:
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
                for name in COUNTED:
                    counts[name] += int(event.detail.get(name, 0))
                self.table_windows += 1
            elif event.kind == "planned":
                self.exports_planned = int(event.detail["exports"])
                self.repaired_windows = dict(event.detail.get("repaired_windows", {}))
                self.retried_windows = dict(event.detail.get("retried_windows", {}))

    def total(self, name: str) -> int:
        """``name`` (one of ``COUNTED``) over every table."""
        return sum(counts[name] for counts in self.per_table.values())

    def by_table(self, name: str) -> dict[str, int]:
        return {table: counts[name] for table, counts in sorted(self.per_table.items())}

    def summary(self) -> dict[str, Any]:
        """The counts as plain values, the fields of a run's summary."""
        return {
            "exports_planned": self.exports_planned,
            "table_windows": self.table_windows,
            "rejected_rows": self.by_table("rejected"),
            "rejected_values": self.by_table("rejected_values"),
            "repaired_values": self.by_table("repaired_values"),
            "repaired_windows": dict(sorted(self.repaired_windows.items())),
            "retried_windows": dict(sorted(self.retried_windows.items())),
        }
