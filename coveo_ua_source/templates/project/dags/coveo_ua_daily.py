"""Airflow DAG: the daily incremental Coveo UA load.

Copy this file into your DAGs folder, with coveo-ua-source installed in Airflow's
environment. It imports with no configuration at all: the source is built inside the
task, from dlt config at run time (for example the environment variables
SOURCES__COVEO_UA__ACCESS_TOKEN and SOURCES__COVEO_UA__START_DATE, or Airflow Variables
through dlt's config providers), and the destination's credentials the same way
(DESTINATION__BIGQUERY__CREDENTIALS, ...).

Each run loads up to the end of its data interval (capped at the settled present by the
source) with ONE task, so one export per window carries every table. Nothing stays on
the worker: the task uses a temporary pipelines folder and dlt restores the state from
the destination. `max_active_runs=1` keeps two runs of the pipeline from overlapping
across workers (the connector's own lock only sees one machine).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.timetables.interval import CronDataIntervalTimetable

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task  # type: ignore[no-redef]

DESTINATION = os.environ.get("COVEO_UA_DESTINATION", "bigquery")
DATASET_NAME = os.environ.get("COVEO_UA_DATASET", "usage_analytics")
RETRIES = int(os.environ.get("COVEO_UA_TASK_RETRIES", "2"))
PIPELINE_NAME = os.environ.get("COVEO_UA_PIPELINE", "coveo_ua")


@dag(
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-engineering",
        "retries": RETRIES,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=6),
    },
    tags=["coveo", "dlt"],
)
def coveo_ua_daily() -> None:
    @task
    def load(data_interval_end: Any = None) -> dict[str, Any]:
        """Export and load every table's new windows, up to the data interval's end."""
        from coveo_ua_source.orchestration import load_incremental

        end = None if data_interval_end is None else data_interval_end.isoformat()
        return load_incremental(
            DESTINATION, pipeline_name=PIPELINE_NAME, dataset_name=DATASET_NAME, end_date=end
        )

    load()


coveo_ua_daily()
