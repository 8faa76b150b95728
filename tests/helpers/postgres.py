"""The PostgreSQL server of the tests (COVEO_UA_TEST_POSTGRES), and dropping datasets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

URL_VARIABLE = "COVEO_UA_TEST_POSTGRES"


def postgres_url() -> str:
    """The test server's URL; skips the test without one, or fails it in CI."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if url:
        return url
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(
            f"PostgreSQL is required in CI but {URL_VARIABLE} is not set: run "
            f"`bash .ci/postgres.sh` and export {URL_VARIABLE}=postgresql://... (.ci/run does)",
            pytrace=False,
        )
    pytest.skip(f"set {URL_VARIABLE}=postgresql://... to run; see .ci/postgres.sh")


def drop_datasets(pipeline: Pipeline) -> None:
    """Drop the pipeline's dataset and its staging dataset (merge loads go through it)."""
    if not pipeline.schema_names:
        return
    with pipeline.sql_client() as client:
        for dataset in (client.dataset_name, client.staging_dataset_name):
            with client.with_alternative_dataset_name(dataset):
                if client.has_dataset():
                    client.drop_dataset()


def scheduler_destination(database_file: Path) -> tuple[dict[str, str], Any]:
    """Where a scheduler's runs load (the test PostgreSQL when COVEO_UA_TEST_POSTGRES is
    set, else ``database_file`` in DuckDB): the environment that tells the shipped DAGs and
    assets, and a dlt destination to read what they loaded."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        environment = {
            "COVEO_UA_DESTINATION": "postgres",
            "DESTINATION__POSTGRES__CREDENTIALS": url,
        }
        return environment, dlt.destinations.postgres(url)
    environment = {
        "COVEO_UA_DESTINATION": "duckdb",
        "DESTINATION__DUCKDB__CREDENTIALS": str(database_file),
    }
    return environment, dlt.destinations.duckdb(str(database_file))
