"""Incremental load of Coveo UA exports into DuckDB, configured from .dlt/ and the environment.

Schedule it (cron, Airflow, ...) as often as you like: each run exports only the windows
that are new since the last run. Configure in `.dlt/config.toml` / `.dlt/secrets.toml`:

    [sources.coveo_ua]
    start_date = "2024-01-01"          # where the first run starts
    # org_id, region, base_url, window, lookback, tables, ... (see README)

    # secrets.toml
    [sources.coveo_ua]
    access_token = "xx..."             # API key with Analytics - Data exports - Edit/View

or with environment variables: SOURCES__COVEO_UA__ACCESS_TOKEN, SOURCES__COVEO_UA__START_DATE.
"""

from __future__ import annotations

import os

import dlt
from dlt.common.pipeline import LoadInfo

from coveo_ua_source import coveo_ua_source, create_views, pipeline_lock
from coveo_ua_source.warehouse.lean_defaults import lean_load_defaults


def load_incrementally() -> LoadInfo:
    """One incremental run: from each table's last loaded window up to the settled now."""
    destination = os.environ.get("COVEO_UA_DESTINATION", "duckdb")
    lean_load_defaults(destination)  # bounded memory unless .dlt/ or the environment say else
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua",
        destination=destination,
        dataset_name="usage_analytics",
        progress="log",
    )
    with pipeline_lock(pipeline):  # a run that overlaps the previous one refuses at once
        info = pipeline.run(coveo_ua_source())
    info.raise_on_failed_jobs()
    create_views(pipeline)  # all_events, daily_search_metrics, top_queries, ...
    return info


if __name__ == "__main__":
    print(load_incrementally())
