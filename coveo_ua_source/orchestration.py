"""Running the source from a scheduler's task: nothing is kept on the worker between runs.

Airflow, Dagster, Prefect or cron call ``load_incremental`` or ``load_partition`` inside a
task. Each call builds the pipeline in a temporary pipelines folder, so dlt restores the
state from the destination (as on a fresh worker), loads with the load recipe
(``recipe.run_load``: lean settings, the dataset's turn, views, used exports deleted), and
removes the folder. Tasks may run at once, on any number of workers: runs of one dataset
take turns (``runs/turns.py``). The result is a small dict of plain values, fit for
Airflow's XCom. Configuration (token, start date, ...) comes from dlt's config and
secrets as usual: ``SOURCES__COVEO_UA__*`` or ``.dlt/``.

``partition_ranges`` cuts a backfill into ``[start, end)`` ranges for dynamic task
mapping; each range is loaded by ``load_partition`` under its own pipeline name, in
partition mode, into the same dataset, without moving the incremental position.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import dlt

from coveo_ua_source.dates import format_utc, parse_datetime, parse_duration
from coveo_ua_source.recipe import delete_loaded_exports, run_load

DEFAULT_PIPELINE_NAME = "coveo_ua"
DEFAULT_DATASET_NAME = "usage_analytics"
PARTITION_PREFIX = "coveo_ua_partition"


def load_incremental(
    destination: Any,
    *,
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
    dataset_name: str = DEFAULT_DATASET_NAME,
    end_date: str | date | datetime | None = None,
    source_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One incremental run, from each table's loaded position up to ``end_date``.

    ``end_date`` is usually the end of the scheduler's data interval (None: the settled
    present). Later than the settled present, it is capped there by the source.
    """
    options = dict(source_options or {})
    if end_date is not None:
        options["end_date"] = end_date
    return _run(destination, pipeline_name, dataset_name, options)


def load_partition(
    destination: Any,
    start_date: str | date | datetime,
    end_date: str | date | datetime,
    *,
    dataset_name: str = DEFAULT_DATASET_NAME,
    pipeline_name: str | None = None,
    source_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Load exactly ``[start_date, end_date)`` in partition mode, into ``dataset_name``.

    The pipeline is named after the range (``coveo_ua_partition_<start>_<end>``) unless
    given, so mapped tasks never share state; the incremental pipeline is left alone.
    """
    start = parse_datetime(start_date, "start_date")
    end = parse_datetime(end_date, "end_date")
    name = pipeline_name or partition_pipeline_name(start, end)
    options = {**(source_options or {}), "start_date": start, "end_date": end}
    return _run(destination, name, dataset_name, {**options, "partition": True})


def partition_ranges(
    start_date: str | date | datetime,
    end_date: str | date | datetime,
    size: str | timedelta = "P7D",
) -> list[dict[str, str]]:
    """``[start, end)`` ranges of ``size`` (the last one shorter) covering the range.

    Each range is a dict ``{"start_date": ..., "end_date": ...}`` of ISO strings, the
    form Airflow passes to mapped tasks. Choose a ``size`` that is a multiple of the
    source's ``window`` so that partitions export whole windows.
    """
    start = parse_datetime(start_date, "start_date")
    end = parse_datetime(end_date, "end_date")
    step = parse_duration(size, "size")
    if step <= timedelta(0) or start >= end:
        raise ValueError(f"need start < end and a positive size, got {start}, {end}, {size}")
    ranges: list[dict[str, str]] = []
    cursor = start
    while cursor < end:
        stop = min(cursor + step, end)
        ranges.append({"start_date": format_utc(cursor), "end_date": format_utc(stop)})
        cursor = stop
    return ranges


def partition_pipeline_name(start: datetime, end: datetime) -> str:
    return f"{PARTITION_PREFIX}_{start:%Y%m%dT%H%M}_{end:%Y%m%dT%H%M}"


def _run(
    destination: Any, pipeline_name: str, dataset_name: str, options: dict[str, Any]
) -> dict[str, Any]:
    with _fresh_pipeline(destination, pipeline_name, dataset_name) as pipeline:
        return run_load(pipeline, **options)


@contextmanager
def _fresh_pipeline(
    destination: Any, pipeline_name: str, dataset_name: str
) -> Iterator[dlt.Pipeline]:
    """A pipeline in a temporary folder: its state comes from the destination."""
    with tempfile.TemporaryDirectory(prefix=f"{pipeline_name}-") as pipelines_dir:
        yield dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=destination,
            dataset_name=dataset_name,
            pipelines_dir=pipelines_dir,
        )


__all__ = [
    "delete_loaded_exports",
    "load_incremental",
    "load_partition",
    "partition_pipeline_name",
    "partition_ranges",
]
