"""A durable record of the exports this pipeline created and has not cleaned up yet.

Each export is recorded right after it is created, before any polling, in a small JSON
file in the pipeline's working directory. After a crash the next run finds the export
of a window there and reattaches to it instead of creating a duplicate. An export is
deleted (unless ``keep_exports``) once dlt state shows that every table it carries has
moved past its window, i.e. once its rows are safely extracted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from coveo_ua_source.windows import Window, parse_datetime

LEDGER_FILE = "export_ledger.json"


@dataclass(frozen=True)
class LedgerEntry:
    """One export: which window and tables, with which parameters."""

    export_id: str
    start: str
    end: str
    tables: tuple[str, ...]
    params_hash: str
    consumed: bool = False

    @property
    def window(self) -> Window:
        return Window(parse_datetime(self.start, "start"), parse_datetime(self.end, "end"))

    @property
    def key(self) -> str:
        return entry_key(self.window, self.tables, self.params_hash)


def entry_key(window: Window, tables: Sequence[str], params_hash: str) -> str:
    return f"{params_hash}|{window.start.isoformat()}|{window.end.isoformat()}|{','.join(tables)}"


def params_hash(params: Mapping[str, Any]) -> str:
    """A short stable digest of the export parameters that are not the window."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ExportLedger:
    """The ledger file; safe to use from the runner's threads."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LEDGER_FILE
        self._lock = threading.Lock()
        self._entries = self._read()

    def find(self, window: Window, tables: Sequence[str], digest: str) -> LedgerEntry | None:
        with self._lock:
            return self._entries.get(entry_key(window, tables, digest))

    def record(self, entry: LedgerEntry) -> None:
        with self._lock:
            self._entries[entry.key] = entry
            self._write()

    def mark_consumed(self, export_id: str) -> None:
        with self._lock:
            for key, entry in self._entries.items():
                if entry.export_id == export_id:
                    self._entries[key] = LedgerEntry(**{**asdict(entry), "consumed": True})
            self._write()

    def forget(self, export_id: str) -> None:
        with self._lock:
            self._entries = {
                key: entry for key, entry in self._entries.items() if entry.export_id != export_id
            }
            self._write()

    def entries(self) -> Iterator[LedgerEntry]:
        with self._lock:
            return iter(list(self._entries.values()))

    def settled(self, positions: Mapping[str, datetime | None]) -> list[LedgerEntry]:
        """Entries whose every table's loaded position is at or past the window's end."""
        return [
            entry
            for entry in self.entries()
            if all(_covered(positions.get(table), entry.window) for table in entry.tables)
        ]

    def _read(self) -> dict[str, LedgerEntry]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A torn or foreign file: start over. Worst case one export is created again.
            return {}
        entries = [LedgerEntry(**{**item, "tables": tuple(item["tables"])}) for item in raw]
        return {entry.key: entry for entry in entries}

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps([asdict(entry) for entry in self._entries.values()], indent=1)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(payload)
            os.replace(temporary, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _covered(position: datetime | None, window: Window) -> bool:
    return position is not None and position >= window.end
