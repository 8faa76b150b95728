"""Incremental load of Coveo UA exports, configured from .dlt/ and the environment.

Schedule it (cron, Airflow, ...) as often as you like: each run exports only the windows
that are new since the last run. Configure in `.dlt/config.toml` / `.dlt/secrets.toml`:

    [sources.coveo_ua]
    start_date = "2024-01-01"          # where the first run starts
    # org_id, region, base_url, window, lookback, tables, ... (see docs/operations.md)

    [coveo_ua]
    destination = "duckdb"             # any dlt destination, with its credentials
    dataset_name = "usage_analytics"

    # secrets.toml
    [sources.coveo_ua]
    access_token = "xx..."             # API key with Analytics - Data exports - Edit/View

or with environment variables: SOURCES__COVEO_UA__ACCESS_TOKEN, SOURCES__COVEO_UA__START_DATE;
COVEO_UA_DESTINATION names the destination over the config. `coveo-ua init` writes these
files; the `coveo-ua` command reads the same settings and loads into the same place.
"""

from __future__ import annotations

import os
from typing import Any

import dlt

from coveo_ua_source import run_load


def destination() -> str:
    """COVEO_UA_DESTINATION, else `destination` under [coveo_ua], else DuckDB."""
    configured = dlt.config.get("coveo_ua.destination")
    return os.environ.get("COVEO_UA_DESTINATION") or configured or "duckdb"


def dataset_name() -> str:
    """`dataset_name` under [coveo_ua], else usage_analytics."""
    return dlt.config.get("coveo_ua.dataset_name") or "usage_analytics"


def load_incrementally() -> dict[str, Any]:
    """One incremental run: from each table's last loaded window up to the settled now.

    ``run_load`` runs the source with bounded memory, waits its turn if another run is
    loading into the same dataset, then creates the SQL views and deletes the used exports.
    """
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua",
        destination=destination(),
        dataset_name=dataset_name(),
        progress="log",
    )
    return run_load(pipeline)


if __name__ == "__main__":
    print(load_incrementally())
