"""Finding the export an earlier run created for a window, so that none is made twice.

The ledger file is the first place to look. When it has no entry (the run that created
the export died before writing it, or dlt wiped the pipeline's working folder after a
failed first load), the org's export list is searched once per run for the description
the connector gives every export: its tag, parameter digest, window and tables.
"""

from __future__ import annotations

import logging
import threading

from coveo_ua_source.client import CoveoClient, ExportInfo
from coveo_ua_source.exceptions import CoveoAPIError, CoveoNotFoundError
from coveo_ua_source.ledger import ExportLedger, LedgerEntry
from coveo_ua_source.windows import PlannedExport

logger = logging.getLogger(__name__)

REUSABLE = ("PENDING", "AVAILABLE")


class ExportFinder:
    """Looks up and records the exports of one runner's parameters."""

    def __init__(
        self, client: CoveoClient, ledger: ExportLedger | None, digest: str, tag: str
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.digest = digest
        self.tag = tag
        self._listed: list[ExportInfo] | None = None
        self._unusable: set[str] = set()  # forgotten this run: never reattach to them again
        self._lock = threading.Lock()

    def description(self, planned: PlannedExport, digest: str | None = None) -> str:
        """The `d` parameter of this window's export: how it is found again."""
        tables = ",".join(planned.tables)
        return f"{self.tag} {digest or self.digest} {planned.window} {tables}"

    def twins(self, entry: LedgerEntry) -> list[str]:
        """Ids of the org's exports described like the ledger entry's (itself included)."""
        planned = PlannedExport(entry.window, entry.tables)  # type: ignore[arg-type]
        wanted = self.description(planned, entry.params_hash)
        return [info.id for info in self._exports() if info.description == wanted]

    def find(self, planned: PlannedExport) -> ExportInfo | None:
        """A PENDING or AVAILABLE export made earlier for exactly this window and tables."""
        if self.ledger is None:
            return None
        entry = self.ledger.find(planned.window, planned.tables, self.digest)
        if entry is not None:
            info = self._current(entry.export_id)
            if info is not None and info.status in REUSABLE:
                return info
            self.forget(entry.export_id)
        return self._by_description(planned)

    def record(self, info: ExportInfo, planned: PlannedExport) -> None:
        if self.ledger is not None:
            start, end = planned.window.start.isoformat(), planned.window.end.isoformat()
            self.ledger.record(LedgerEntry(info.id, start, end, planned.tables, self.digest))

    def forget(self, export_id: str) -> None:
        with self._lock:
            self._unusable.add(export_id)
        if self.ledger is not None:
            self.ledger.forget(export_id)

    def _current(self, export_id: str) -> ExportInfo | None:
        try:
            return self.client.get_export(export_id)
        except CoveoNotFoundError:
            return None

    def _by_description(self, planned: PlannedExport) -> ExportInfo | None:
        wanted = self.description(planned)
        for info in self._exports():
            usable = info.status in REUSABLE and info.id not in self._unusable
            if info.description == wanted and usable:
                self.record(info, planned)
                return info
        return None

    def _exports(self) -> list[ExportInfo]:
        with self._lock:
            if self._listed is None:
                try:
                    self._listed = self.client.list_exports()
                except CoveoAPIError as error:
                    logger.warning("could not list exports to reuse one (%s)", error)
                    self._listed = []
            return self._listed
