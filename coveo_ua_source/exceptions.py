"""Errors raised by the connector.

The tree, and when to catch each::

    CoveoUAError                      anything this package raises on purpose
    ├── ConfigurationError(ValueError)  bad arguments: dates, durations, tables, missing token;
    │   │                               raised before any request is made
    │   └── TooManyExportsError         the plan has more exports than max_exports
    ├── CoveoAPIError                 the API answered with an error status (carries status,
    │   │                             method, path, the service's message and X-Request-ID)
    │   ├── CoveoAuthError            401/403: the token is invalid, expired or lacks privileges
    │   ├── CoveoBadRequestError(ValueError)  400: a parameter or filter was rejected
    │   ├── CoveoNotFoundError        404: unknown export id
    │   ├── CoveoRetryExhaustedError  429/5xx/connection errors that outlasted every retry
    │   └── CoveoStorageError         the download host or its redirects cannot give the file
    │       │                         (non-HTTP or looping redirects, a refused link)
    │       └── DownloadStalledError  the download stalled or outlasted its deadline
    ├── ExportFailedError             an export ended FAILED even after re-creating/splitting it
    ├── ExportTimeoutError            an export stayed PENDING longer than max_wait
    ├── ExportFileError               the downloaded zip or its CSVs cannot be read
    ├── DiskFullError                 the disk of a folder the run writes is full
    ├── WindowsFailedError            a window the service could not give stopped the run;
    │                                 the windows before it were loaded and committed
    ├── BusyError                     another run holds what this run needs for longer than
    │   │                             it may wait; this run changed nothing (rerun later)
    │   ├── PipelineLockedError       another run of the same pipeline uses its folder
    │   └── DatasetBusyError          another run is loading into the same dataset
    └── DatasetLeaseLostError         a run lost the dataset's lease while it loaded (a table
                                      lease not renewed in time); the next run repairs
"""

from __future__ import annotations


class CoveoUAError(Exception):
    """Base of every error raised by coveo_ua_source."""


class ConfigurationError(CoveoUAError, ValueError):
    """An argument is invalid; nothing was requested."""


class TooManyExportsError(ConfigurationError):
    """The run's plan has more exports than ``max_exports``: refused, nothing created."""


class CoveoAPIError(CoveoUAError):
    """The API answered with an error status."""

    hint = ""

    def __init__(
        self,
        status: int | None,
        method: str,
        path: str,
        service_message: str = "",
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.service_message = service_message
        self.request_id = request_id
        if hint is not None:
            self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        parts = [f"{status} on {self.method} {self.path}"]
        if self.service_message:
            parts.append(f"service said: {self.service_message}")
        if self.request_id:
            parts.append(f"X-Request-ID {self.request_id}")
        if self.hint:
            parts.append(self.hint)
        return "; ".join(parts)


class CoveoAuthError(CoveoAPIError):
    """401 or 403: never retried."""


class CoveoBadRequestError(CoveoAPIError, ValueError):
    """400: the service rejected a parameter or a filter."""


class CoveoNotFoundError(CoveoAPIError):
    """404: the export id is unknown to the service (deleted, or another org)."""


class CoveoRetryExhaustedError(CoveoAPIError):
    """429, 5xx or connection errors went on longer than the retry budget."""


class CoveoStorageError(CoveoAPIError):
    """The export's file could not be fetched from the storage host (not a token problem)."""


class DownloadStalledError(CoveoStorageError):
    """Too few bytes arrived over the stall period, or the download outlasted its deadline."""


class ExportFailedError(CoveoUAError):
    """An export ended FAILED and re-creating or splitting it did not help."""


class ExportTimeoutError(CoveoUAError):
    """An export stayed PENDING for longer than the configured maximum wait."""


class ExportFileError(CoveoUAError):
    """The downloaded export is not a readable zip of CSV files."""


class DiskFullError(CoveoUAError, OSError):
    """The disk of a folder the run writes to is full; the message names it."""


class WindowsFailedError(CoveoUAError):
    """A window the service could not give stopped the run; what came before is loaded."""


class BusyError(CoveoUAError):
    """Another run held what this run needs for longer than it may wait; nothing changed."""


class PipelineLockedError(BusyError):
    """Another run of the same pipeline holds its folder's lock; this run changed nothing."""


class DatasetBusyError(BusyError):
    """Another run held the dataset's lease past ``lease_timeout``; this run changed nothing."""


class DatasetLeaseLostError(CoveoUAError):
    """The dataset's lease was taken over while this run loaded (its heartbeat was late)."""
