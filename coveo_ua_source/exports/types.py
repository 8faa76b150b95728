"""What the export stages hand each other: the request, the runner's options, the
progress events and the downloaded export. Plain dataclasses, no behaviour, no dlt.

The arguments build ``ExportRequest`` and ``RunnerOptions``; the runner emits
``ProgressEvent`` (to a ``TExportProgress`` callback) and yields ``ReadyExport``; sizing,
the feed, bookkeeping and the CLI read them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from coveo_ua_source import settings
from coveo_ua_source.dates import Window
from coveo_ua_source.exceptions import CoveoUAError
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.schema import TExportFormat, TTable


@dataclass(frozen=True)
class ExportRequest:
    """The export parameters that are the same for every window."""

    dimensions: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    search_filters: tuple[str, ...] = ()
    custom_event_filters: tuple[str, ...] = ()
    export_format: TExportFormat = "EXCEL"
    use_display_names: bool = False


@dataclass
class RunnerOptions:
    """How the runner polls and how far it splits."""

    poll_interval: float = settings.DEFAULT_POLL_INTERVAL
    max_wait: float = settings.DEFAULT_MAX_WAIT
    max_concurrent: int = settings.DEFAULT_MAX_CONCURRENT_EXPORTS
    min_window: timedelta = settings.MIN_SPLIT_WINDOW
    # Tells apart the exports of different pipelines with the same parameters.
    scope: str = ""


@dataclass(frozen=True)
class ProgressEvent:
    """Something a progress display may show: kind is created, reattached,
    polled, downloading, ready or split."""

    kind: str
    window: Window
    export_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


TExportProgress = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class ReadyExport:
    """A downloaded export whose zip can be read."""

    window: Window
    tables: tuple[TTable, ...]
    export_id: str
    zip_path: Path
    estimates: Mapping[str, int] = field(default_factory=dict)


class WindowFailedError(CoveoUAError):
    """The service could not give one window's export (after the retries and splits)."""

    def __init__(self, planned: PlannedExport, error: BaseException) -> None:
        self.planned = planned
        self.error = error
        super().__init__(f"{planned.window} ({', '.join(planned.tables)}): {error}")
