"""Airflow DAG: a parallel backfill of Coveo UA data, one mapped task per date partition.

Trigger it by hand with the range to load, for example
``airflow dags trigger coveo_ua_backfill -c '{"start_date": "2023-01-01",
"end_date": "2024-01-01", "partition": "P7D"}'``. The range is cut into partitions
(``partition``: an ISO 8601 duration, a multiple of the source's ``window``), and dynamic
task mapping loads each one exactly, under its own pipeline name and in the source's
partition mode, into the same dataset as the daily DAG. The incremental position is not
moved: afterwards, start the daily pipeline at the backfill's end (its ``start_date``).
Like the daily DAG, it imports without configuration and keeps nothing on the worker.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum

try:  # Airflow 3
    from airflow.sdk import Param, dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task  # type: ignore[no-redef]
    from airflow.models.param import Param  # type: ignore[no-redef]

DESTINATION = os.environ.get("COVEO_UA_DESTINATION", "bigquery")
DATASET_NAME = os.environ.get("COVEO_UA_DATASET", "usage_analytics")
RETRIES = int(os.environ.get("COVEO_UA_TASK_RETRIES", "2"))


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "start_date": Param("2024-01-01", type="string", description="first day, UTC"),
        "end_date": Param("2024-02-01", type="string", description="exclusive end, UTC"),
        "partition": Param("P7D", type="string", description="ISO 8601 partition size"),
    },
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=10)},
    tags=["coveo", "dlt", "backfill"],
)
def coveo_ua_backfill() -> None:
    @task
    def partitions(params: Any = None) -> list[dict[str, str]]:
        from coveo_ua_source.orchestration import partition_ranges

        chosen = params or {}
        return partition_ranges(chosen["start_date"], chosen["end_date"], chosen["partition"])

    @task(max_active_tis_per_dag=4)  # exports Coveo builds at once, across partitions
    def load_partition(partition: dict[str, str]) -> dict[str, Any]:
        from coveo_ua_source.orchestration import load_partition as load

        return load(
            DESTINATION, partition["start_date"], partition["end_date"], dataset_name=DATASET_NAME
        )

    load_partition.expand(partition=partitions())


coveo_ua_backfill()
