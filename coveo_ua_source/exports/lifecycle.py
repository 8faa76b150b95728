"""An export across runs: its identity, its description, finding it again, cleaning it up.

Nothing here is kept on the worker. Every export the connector creates carries a
description that says whose it is and what it holds::

    coveo-ua-source scope=<12 hex> params=<12 hex> from=<ISO> to=<ISO> tables=searches,clicks

``scope`` is a digest of the API root and the pipeline name (the exports of one
pipeline), ``params`` a digest of the export parameters that are not the window. Each run
lists the org's exports once, and from that list and dlt state (restored from the
destination on a fresh worker) it

- reattaches to a PENDING or AVAILABLE export of exactly the window, tables and
  parameters it needs (one a crashed run left in flight), and
- deletes the exports of its scope whose every table dlt state shows loaded past the
  window's end: the used exports of earlier runs, their twins (a retried create may leave
  one behind), and those made with parameters since changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.api.models import ExportInfo
from coveo_ua_source.dates import Window, format_utc, parse_datetime
from coveo_ua_source.exceptions import CoveoAPIError, CoveoNotFoundError, CoveoUAError
from coveo_ua_source.exports.windows import PlannedExport

logger = logging.getLogger(__name__)

TAG = "coveo-ua-source"
REUSABLE = ("PENDING", "AVAILABLE")
_DESCRIPTION = re.compile(
    rf"^{TAG} scope=(?P<scope>\w+) params=(?P<params>\w+) "
    r"from=(?P<start>\S+) to=(?P<end>\S+) tables=(?P<tables>[\w,]+)$"
)


def digest(value: Any) -> str:
    """A short stable digest of JSON-able values."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ExportIdentity:
    """Whose exports these are (scope) and with which parameters (params)."""

    scope: str
    params: str

    @classmethod
    def of(cls, api_root: str, pipeline_name: str, request: Any) -> ExportIdentity:
        """``request`` is the dataclass of the parameters shared by every window."""
        return cls(scope_of(api_root, pipeline_name), digest(asdict(request)))

    def describe(self, planned: PlannedExport) -> str:
        """The description (``d``) of this window's export: how it is found again."""
        start, end = format_utc(planned.window.start), format_utc(planned.window.end)
        tables = ",".join(planned.tables)
        return (
            f"{TAG} scope={self.scope} params={self.params} from={start} to={end} tables={tables}"
        )


@dataclass(frozen=True)
class DescribedExport:
    """What an export's description says, for exports this connector created."""

    scope: str
    params: str
    window: Window
    tables: tuple[str, ...]


def parse_description(text: str | None) -> DescribedExport | None:
    """The parts of a description written by ``ExportIdentity.describe``; else None."""
    match = _DESCRIPTION.match(text or "")
    if match is None:
        return None
    try:
        window = Window(parse_datetime(match["start"], "from"), parse_datetime(match["end"], "to"))
    except CoveoUAError:
        return None
    return DescribedExport(
        match["scope"], match["params"], window, tuple(match["tables"].split(","))
    )


def scope_of(api_root: str, pipeline_name: str) -> str:
    """The scope of a pipeline's exports: its API root and name."""
    return digest([api_root, pipeline_name])


def delete_loaded(
    client: CoveoClient, pipeline_name: str, positions: Mapping[str, datetime | None]
) -> list[str]:
    """Delete the pipeline's exports whose every table ``positions`` shows loaded.

    Called once a load is committed, so that a run leaves no used export behind; the
    next run's start does the same for runs that ended before calling it.
    """
    identity = ExportIdentity(scope_of(client.api_root, pipeline_name), params="")
    return ExportBook(client, identity).settle(positions)


def covered(described: DescribedExport, positions: Mapping[str, datetime | None]) -> bool:
    """Whether every table of the export is loaded up to at least its window's end."""
    return all(
        (position := positions.get(table)) is not None and position >= described.window.end
        for table in described.tables
    )


class ExportBook:
    """One run's view of its exports: listed once, looked up, forgotten, deleted.

    Safe to use from the runner's threads.
    """

    def __init__(self, client: CoveoClient, identity: ExportIdentity) -> None:
        self.client = client
        self.identity = identity
        self._listed: list[ExportInfo] | None = None
        self._unusable: set[str] = set()  # failed or deleted in this run: never reattached
        self._loaded: Mapping[str, datetime | None] | None = None  # see treat_as_loaded
        self._lock = threading.Lock()

    def describe(self, planned: PlannedExport) -> str:
        return self.identity.describe(planned)

    def find(self, planned: PlannedExport) -> ExportInfo | None:
        """A PENDING or AVAILABLE export made earlier for exactly this window and tables."""
        wanted = self.describe(planned)
        for info in self._exports():
            if info.description == wanted and info.status in REUSABLE:
                with self._lock:
                    loaded = self._loaded
                    if info.id in self._unusable:
                        continue
                described = parse_description(info.description)
                if loaded is None or described is None or not covered(described, loaded):
                    return info
        return None

    def forget(self, export_id: str) -> None:
        """Never reattach to this export again in this run (it failed, expired or is gone)."""
        with self._lock:
            self._unusable.add(export_id)

    def treat_as_loaded(self, positions: Mapping[str, datetime | None] | None) -> None:
        """Never reattach to an export of a window ``positions`` show loaded: a window loaded
        again (lookback, repair) is exported afresh, and such exports are deleted."""
        with self._lock:
            self._loaded = positions

    def settle(self, positions: Mapping[str, datetime | None]) -> list[str]:
        """Delete this scope's exports whose rows dlt state shows loaded; their ids.

        The exports listed are those of before this run: what it creates is not deleted.
        """
        settled = [
            info.id
            for info in self._exports()
            if (described := parse_description(info.description)) is not None
            and described.scope == self.identity.scope
            and covered(described, positions)
        ]
        for export_id in settled:
            self.delete(export_id)
        return settled

    def delete(self, export_id: str) -> None:
        """Delete an export; a failure is only logged, since exports expire by themselves."""
        self.forget(export_id)
        try:
            self.client.delete_export(export_id)
        except CoveoNotFoundError:
            pass
        except CoveoUAError as error:
            logger.warning(
                "could not delete export %s (%s); it expires by itself", export_id, error
            )

    def _exports(self) -> list[ExportInfo]:
        with self._lock:
            if self._listed is None:
                try:
                    self._listed = self.client.list_exports()
                except CoveoAPIError as error:
                    logger.warning("could not list exports to reuse or delete them (%s)", error)
                    self._listed = []
            return self._listed
