"""Dagster definitions: the Coveo UA tables as dlt assets, partitioned by day.

``@dlt_assets`` (``dagster-dlt``) turns each table of the source (``searches``,
``clicks``, ``custom_events``, ``keywords``, ``groups``) into an asset, keyed
``coveo_ua/<table>``. Each daily partition loads its own day, ``[day, day + 1)``, in the
source's partition mode, under its own pipeline name, into one shared dataset; one export
per window feeds every selected table. Materialize one partition, or backfill a range: the
backfill policy gives each partition a run of its own, so partitions load at once.

Why the body does not call ``DagsterDltResource.run``: that method calls
``pipeline.run`` itself, on a pipeline built once at import. The connector's loads go
through its load recipe (``orchestration.load_partition`` -> ``recipe.run_load``): a
pipeline in a fresh folder whose state comes from the destination, the pipeline folder's
lock, the dataset's turn held until the views are made and the used exports deleted on
Coveo. Without it, runs of overlapping partitions could merge into the same tables at
once (``docs/concurrency.md``) and the exports would stay on Coveo. So the asset body
calls the recipe and reports one materialization per selected table, with the rows it
loaded; ``@dlt_assets`` still provides the asset specs and the partitions.

Configuration, as for every entry point: the token and the source's settings from dlt
(``SOURCES__COVEO_UA__ACCESS_TOKEN``, ``.dlt/secrets.toml``, ...). Where the data goes:
``COVEO_UA_DESTINATION`` (a dlt destination name, with dlt's credentials for it) and
``COVEO_UA_DATASET``; the first partition: ``COVEO_UA_START_DATE``. The file imports
without any of them. ``dagster dev -f coveo_ua_dagster.py`` serves it; ``dagster asset
materialize -f coveo_ua_dagster.py --select '*' --partition 2024-03-01`` loads one day.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation at runtime.
import os
from collections.abc import Iterator
from typing import Any

import dlt
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
)
from dagster_dlt import DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from coveo_ua_source import coveo_ua_source
from coveo_ua_source.orchestration import load_partition
from coveo_ua_source.schema import TABLES

DESTINATION = os.environ.get("COVEO_UA_DESTINATION", "duckdb")
DATASET_NAME = os.environ.get("COVEO_UA_DATASET", "usage_analytics")
START_DATE = os.environ.get("COVEO_UA_START_DATE", "2024-01-01")
KEY_PREFIX = "coveo_ua"

# Only the asset specs are read from these two: the runs build their own pipeline and
# source from dlt's configuration, so placeholders keep the import free of secrets.
PLACEHOLDER_TOKEN = "unused"  # noqa: S105  # never sent: the specs make no request
SPEC_SOURCE = coveo_ua_source(access_token=PLACEHOLDER_TOKEN, start_date=START_DATE).with_resources(
    *TABLES
)
SPEC_PIPELINE = dlt.pipeline("coveo_ua_dagster_specs", destination=DESTINATION)


class CoveoUaTranslator(DagsterDltTranslator):
    """Asset ``coveo_ua/<table>`` for each table, with no upstream source assets."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(key=AssetKey([KEY_PREFIX, data.resource.name]), deps=[])


@dlt_assets(
    dlt_source=SPEC_SOURCE,
    dlt_pipeline=SPEC_PIPELINE,
    name="coveo_ua",
    group_name="coveo_ua",
    dagster_dlt_translator=CoveoUaTranslator(),
    partitions_def=DailyPartitionsDefinition(start_date=START_DATE),
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=1),
    pool="coveo_ua",  # limit in the instance how many exports Coveo builds at once
)
def coveo_ua_assets(context: AssetExecutionContext) -> Iterator[MaterializeResult[Any]]:
    window = context.partition_time_window
    selected = context.selected_asset_keys
    tables = [table for table in TABLES if AssetKey([KEY_PREFIX, table]) in selected]
    summary = load_partition(
        DESTINATION,
        window.start,
        window.end,
        dataset_name=DATASET_NAME,
        source_options={"tables": tables},
    )
    context.log.info("loaded %s", summary)
    for table in tables:
        yield MaterializeResult(
            asset_key=AssetKey([KEY_PREFIX, table]),
            metadata={"rows": summary["rows"][table], "pipeline": summary["pipeline_name"]},
        )


defs = Definitions(assets=[coveo_ua_assets])
