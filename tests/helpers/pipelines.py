"""DuckDB pipelines in a folder of their own, and dlt kept from the user's settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline

from helpers.open_database import OpenDatabases

# Settings of one pipeline (PIPELINE__LOAD__WORKERS): the source sets its lean defaults so.
_PIPELINE_SCOPED = ("__LOAD__", "__DATA_WRITER__", "__DESTINATION__")


def isolate_dlt_config(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """No dlt settings from the environment, no telemetry, ``folder`` as the cwd, and dlt's
    data folder (pipelines, pipeline locks) inside it: tests on other xdist workers that
    use the same pipeline name must not share a lock or a pipeline folder."""
    for name in list(os.environ):
        if name.startswith(
            ("SOURCES__", "DESTINATION__", "COVEO_UA_ACCESS", "LOAD__", "DATA_WRITER__")
        ) or any(scoped in name for scoped in _PIPELINE_SCOPED):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(folder / "dlt-data"))
    monkeypatch.chdir(folder)


def pipelines_in(folder: Path, held: OpenDatabases | None = None) -> Callable[..., Pipeline]:
    """Make DuckDB pipelines whose database and state live in ``folder``; ``held`` keeps
    each database open from the pipeline's making."""

    def make(name: str = "coveo_ua_test") -> Pipeline:
        database = folder / f"{name}.duckdb"
        if held is not None:
            held.hold(database)
        return dlt.pipeline(
            pipeline_name=name,
            destination=dlt.destinations.duckdb(str(database)),
            dataset_name="coveo_ua",
            pipelines_dir=str(folder / "pipelines"),
        )

    return make
