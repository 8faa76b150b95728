"""The PostgreSQL server of the tests (COVEO_UA_TEST_POSTGRES), and dropping datasets."""

from __future__ import annotations

import os

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
