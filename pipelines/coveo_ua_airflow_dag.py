"""Airflow DAG: the incremental Coveo UA load, run daily with dlt's Airflow helper.

Put this file in your DAGs folder with the package installed in Airflow's environment,
and the token in an Airflow-visible secret (e.g. the env var
SOURCES__COVEO_UA__ACCESS_TOKEN, or Airflow Variables through dlt's config providers).
Each task run loads the windows that became available since the previous run; state
lives in the destination, so a fresh worker picks up where the last one stopped.
"""

from __future__ import annotations

from datetime import timedelta

import dlt
import pendulum
from airflow.decorators import dag
from dlt.helpers.airflow_helper import PipelineTasksGroup

from coveo_ua_source import coveo_ua_source

DEFAULT_TASK_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=6),
}


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,  # one run at a time: runs share the pipeline state
    default_args=DEFAULT_TASK_ARGS,
)
def coveo_ua_daily() -> None:
    tasks = PipelineTasksGroup("coveo_ua", use_data_folder=False, wipe_local_data=True)
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua",
        destination="bigquery",
        dataset_name="usage_analytics",
    )
    # "serialize": one task for the whole source, because one export carries all tables.
    tasks.add_run(pipeline, coveo_ua_source(), decompose="serialize", trigger_rule="all_done")


coveo_ua_daily()
