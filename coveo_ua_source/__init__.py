"""Coveo Usage Analytics exports as a dlt source.

>>> import dlt
>>> from coveo_ua_source import run_load
>>> pipeline = dlt.pipeline("coveo_ua", destination="duckdb", dataset_name="usage_analytics")
>>> run_load(pipeline, start_date="2024-01-01")  # doctest: +SKIP
"""

from coveo_ua_source.dlt_version import require_supported_dlt as _require_supported_dlt

_require_supported_dlt()  # before dlt is imported: a release out of range fails here, clearly

from coveo_ua_source.exceptions import (
    BusyError,
    ConfigurationError,
    CoveoAPIError,
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoNotFoundError,
    CoveoRetryExhaustedError,
    CoveoStorageError,
    CoveoUAError,
    DatasetBusyError,
    DatasetLeaseLostError,
    DownloadStalledError,
    ExportFailedError,
    ExportFileError,
    ExportTimeoutError,
    PipelineLockedError,
    TooManyExportsError,
    WindowsFailedError,
)
from coveo_ua_source.recipe import run_load
from coveo_ua_source.runs.dry_run import plan_load
from coveo_ua_source.runs.lock import pipeline_lock
from coveo_ua_source.schema import TABLES, TTable
from coveo_ua_source.source import coveo_ua_source
from coveo_ua_source.warehouse.lakehouse import delta_lakehouse
from coveo_ua_source.warehouse.views import create_views, drop_views

__version__ = "0.1.0"

__all__ = [
    "TABLES",
    "BusyError",
    "ConfigurationError",
    "CoveoAPIError",
    "CoveoAuthError",
    "CoveoBadRequestError",
    "CoveoNotFoundError",
    "CoveoRetryExhaustedError",
    "CoveoStorageError",
    "CoveoUAError",
    "DatasetBusyError",
    "DatasetLeaseLostError",
    "DownloadStalledError",
    "ExportFailedError",
    "ExportFileError",
    "ExportTimeoutError",
    "PipelineLockedError",
    "TTable",
    "TooManyExportsError",
    "WindowsFailedError",
    "coveo_ua_source",
    "create_views",
    "delta_lakehouse",
    "drop_views",
    "pipeline_lock",
    "plan_load",
    "run_load",
]
