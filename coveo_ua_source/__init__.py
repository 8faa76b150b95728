"""Coveo Usage Analytics exports as a dlt source.

>>> import dlt
>>> from coveo_ua_source import coveo_ua_source
>>> pipeline = dlt.pipeline("coveo_ua", destination="duckdb", dataset_name="usage_analytics")
>>> pipeline.run(coveo_ua_source(start_date="2024-01-01"))  # doctest: +SKIP
"""

from coveo_ua_source.exceptions import (
    ConfigurationError,
    CoveoAPIError,
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoNotFoundError,
    CoveoRetryExhaustedError,
    CoveoUAError,
    ExportFailedError,
    ExportFileError,
    ExportTimeoutError,
)
from coveo_ua_source.lakehouse import delta_lakehouse
from coveo_ua_source.planning import plan_load
from coveo_ua_source.schema import TABLES, TTable
from coveo_ua_source.source import coveo_ua_source
from coveo_ua_source.views import create_views, drop_views

__version__ = "0.1.0"

__all__ = [
    "TABLES",
    "ConfigurationError",
    "CoveoAPIError",
    "CoveoAuthError",
    "CoveoBadRequestError",
    "CoveoNotFoundError",
    "CoveoRetryExhaustedError",
    "CoveoUAError",
    "ExportFailedError",
    "ExportFileError",
    "ExportTimeoutError",
    "TTable",
    "coveo_ua_source",
    "create_views",
    "delta_lakehouse",
    "drop_views",
    "plan_load",
]
