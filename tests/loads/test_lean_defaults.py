"""Bounded memory by default: lean load settings, never over the user's own.

A load under these defaults, DuckDB's memory limit read back and the rows compared with
the ground truth: test_orchestration.py's incremental tasks (they apply them, as the CLI
does), so that one load serves both."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import dlt
import pytest
from helpers import TOKEN, make_source

from coveo_ua_simulator import Simulator
from coveo_ua_source import run_load, settings
from coveo_ua_source.disk import disk_full_error, full_disk
from coveo_ua_source.warehouse.lean_defaults import lean_load_defaults

MEMORY_LIMIT = json.dumps({"memory_limit": settings.DUCKDB_MEMORY_LIMIT})


def test_duckdb_gets_one_worker_a_memory_limit_and_plain_parquet() -> None:
    environ: dict[str, str] = {}
    applied = lean_load_defaults("duckdb", environ)
    assert (
        environ
        == applied
        == {
            "DATA_WRITER__COMPRESSION": "none",
            "LOAD__DELETE_COMPLETED_JOBS": "true",
            "LOAD__WORKERS": "1",
            "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG": MEMORY_LIMIT,
        }
    )
    assert lean_load_defaults("dlt.destinations.duckdb", {}) == applied
    assert lean_load_defaults(dlt.destinations.duckdb("lean.duckdb"), {}) == applied


EVERY_DESTINATION = {"DATA_WRITER__COMPRESSION": "none", "LOAD__DELETE_COMPLETED_JOBS": "true"}


def test_other_destinations_keep_their_workers() -> None:
    assert lean_load_defaults("postgres", {}) == EVERY_DESTINATION
    assert lean_load_defaults(dlt.destinations.postgres(), {}) == EVERY_DESTINATION


@pytest.mark.parametrize(
    ("variable", "value", "kept"),
    [
        pytest.param("LOAD__WORKERS", "4", "LOAD__WORKERS", id="workers"),
        pytest.param(
            "NORMALIZE__DATA_WRITER__COMPRESSION", "zstd", "DATA_WRITER__COMPRESSION",
            id="compression-in-normalize",
        ),
        pytest.param(
            "DESTINATION__DUCKDB__CREDENTIALS__PRAGMAS", '["enable_profiling"]',
            "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", id="duckdb-pragmas",
        ),
        pytest.param(
            "LOAD__DELETE_COMPLETED_JOBS", "false", "LOAD__DELETE_COMPLETED_JOBS",
            id="keep-completed-jobs",
        ),
    ],
)  # fmt: skip
def test_a_setting_the_user_configured_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, kept: str
) -> None:
    monkeypatch.setenv(variable, value)
    environ: dict[str, str] = {}
    lean_load_defaults("duckdb", environ)
    assert kept not in environ
    assert len(environ) == 3, "the other settings are still applied"


def test_a_committed_packages_files_are_removed_and_disk_stays_bounded(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATA_WRITER__COMPRESSION", "LOAD__DELETE_COMPLETED_JOBS", "LOAD__WORKERS"):
        monkeypatch.delenv(name, raising=False)  # run_load sets them in this process
    pipeline = dlt.pipeline(
        pipeline_name="lean_disk", destination=dlt.destinations.duckdb(str(tmp_path / "d.duckdb")),
        dataset_name="coveo_ua", pipelines_dir=str(tmp_path / "pipelines"),
    )  # fmt: skip
    run_load(pipeline, make_source(simulator), views=False, access_token=TOKEN,
             base_url=simulator.api_root)  # fmt: skip
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    packages = list(loaded.iterdir())
    assert packages, "the package was loaded"
    left = [path for package in packages for path in (package / "completed_jobs").glob("*")]
    assert left == [], "no job file of a loaded package is kept"


def test_a_full_disk_names_the_folder_and_the_space(tmp_path: Path) -> None:
    error = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.parquet"))
    wrapped = RuntimeError("extract failed")
    wrapped.__cause__ = error
    assert full_disk(wrapped) is error
    message = str(disk_full_error(error, tmp_path / "elsewhere", 48 << 20))
    assert f"no space left on the disk of {tmp_path} (" in message
    assert "this needs about 48.0 MB" in message
    assert full_disk(RuntimeError("another failure")) is None
