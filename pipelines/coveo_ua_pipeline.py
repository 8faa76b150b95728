"""Incremental load of Coveo UA exports into DuckDB, configured from .dlt/ and the environment.

Schedule it (cron, Airflow, ...) as often as you like: each run exports only the windows
that are new since the last run. Configure in `.dlt/config.toml` / `.dlt/secrets.toml`:

    [sources.coveo_ua]
    start_date = "2024-01-01"          # where the first run starts
    # org_id, region, base_url, window, lookback, tables, ... (see docs/operations.md)

    # secrets.toml
    [sources.coveo_ua]
    access_token = "xx..."             # API key with Analytics - Data exports - Edit/View

or with environment variables: SOURCES__COVEO_UA__ACCESS_TOKEN, SOURCES__COVEO_UA__START_DATE.
"""

from __future__ import annotations

import os
from typing import Any

import dlt

from coveo_ua_source import run_load


def load_incrementally() -> dict[str, Any]:
    """One incremental run: from each table's last loaded window up to the settled now.

    ``run_load`` runs the source with bounded memory, waits its turn if another run is
    loading into the same dataset, then creates the SQL views and deletes the used exports.
    """
    destination = os.environ.get("COVEO_UA_DESTINATION", "duckdb")
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua",
        destination=destination,
        dataset_name="usage_analytics",
        progress="log",
    )
    return run_load(pipeline)


if __name__ == "__main__":
    print(load_incrementally())
