"""Partition tasks beside an incremental one, loaded once for several tests to read.

The incremental task loads 2024-03-01; the partitions of ``PARTITION_RANGES`` (one day
each) load 2024-03-01 and 2024-03-02 into the same dataset; the first partition runs
again; then the incremental task runs on to 2024-03-03. Every task is a scheduler task
(``load_incremental``, ``load_partition``): a fresh worker that restores the pipeline's
state from the destination. What each task's pipeline held at the end of its run is
seen where the task creates its views.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from coveo_ua_simulator import Simulator
from coveo_ua_source import recipe
from coveo_ua_source.orchestration import load_incremental, load_partition, partition_ranges
from coveo_ua_source.schema import TABLES, TTable
from helpers import loaded_tables
from helpers.load_path import dispositions

PARTITION_RANGES = partition_ranges("2024-03-01", "2024-03-03", "P1D")
INCREMENTAL = "coveo_ua_incremental"


@dataclass(frozen=True)
class SeenTask:
    """One task: its summary, the windows it exported, whether it deleted them, and its
    pipeline at the end of its run."""

    summary: dict[str, Any]
    created: list[tuple[datetime, datetime]]
    deleted_its_own: bool
    source_state: dict[str, Any]
    dispositions: set[str]

    @property
    def wrote_positions(self) -> bool:
        resources = self.source_state.get("resources", {})
        return any("last_end" in state for state in resources.values())


@dataclass(frozen=True)
class PartitionTasks:
    """What the tasks of the module docstring did, in their order, and the rows they left."""

    first_incremental: SeenTask
    partitions: list[SeenTask]  # in the order of PARTITION_RANGES
    rows_after_partitions: dict[TTable, list[dict[str, Any]]]
    again: SeenTask  # the first partition, run again
    state_restored: dict[str, Any]  # the incremental state a fresh worker restores then
    last_incremental: SeenTask
    rows: dict[TTable, list[dict[str, Any]]]  # after the last task


def run_partition_tasks(
    simulator: Simulator, destination: Any, dataset: str, folder: Path
) -> PartitionTasks:
    """The tasks of the module docstring; ``folder`` for the pipelines that read back."""
    with pytest.MonkeyPatch.context() as monkeypatch, environ_kept():
        seen = _spy_on_pipelines(monkeypatch)
        incremental = {"pipeline_name": INCREMENTAL, "dataset_name": dataset}

        def task(run: Any, *args: Any, **kwargs: Any) -> SeenTask:
            before = set(simulator.exports)
            summary = run(destination, *args, **kwargs)
            own = set(simulator.exports) - before
            return SeenTask(
                summary,
                sorted((simulator.exports[i].start, simulator.exports[i].end) for i in own),
                all(simulator.exports[i].deleted for i in own),
                *seen[-1],
            )

        first = task(load_incremental, **incremental, end_date="2024-03-02")
        partitions = [
            task(load_partition, r["start_date"], r["end_date"], dataset_name=dataset)
            for r in PARTITION_RANGES
        ]
        after_partitions = loaded_tables(_reader(destination, dataset, folder), TABLES)
        again = task(load_partition, **PARTITION_RANGES[0], dataset_name=dataset)
        restored = _reader(destination, dataset, folder, INCREMENTAL)
        restored.sync_destination()
        state = dict(restored.state["sources"]["coveo_ua"])  # type: ignore[typeddict-item]
        last = task(load_incremental, **incremental, end_date="2024-03-03")
        rows = loaded_tables(_reader(destination, dataset, folder), TABLES)
        return PartitionTasks(first, partitions, after_partitions, again, state, last, rows)


def _spy_on_pipelines(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], set[str]]]:
    """Each task's source state and write dispositions, seen where it creates its views."""
    seen: list[tuple[dict[str, Any], set[str]]] = []
    create_views = recipe.create_views

    def views_after_seeing_the_pipeline(pipeline: Pipeline) -> list[str]:
        state = pipeline.state.get("sources", {}).get("coveo_ua", {})
        seen.append((dict(state), dispositions(pipeline)))
        return create_views(pipeline)

    monkeypatch.setattr(recipe, "create_views", views_after_seeing_the_pipeline)
    return seen


def _reader(destination: Any, dataset: str, folder: Path, name: str = "reader") -> Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(folder / name),
    )


@contextmanager
def environ_kept() -> Iterator[None]:
    """Put ``os.environ`` back as it was on leaving: a task's lean defaults set variables
    in it (``lean_load_defaults``), which must not reach the tests that follow."""
    kept = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(kept):
            del os.environ[name]
        os.environ.update(kept)
