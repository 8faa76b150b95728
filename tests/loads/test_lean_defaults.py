"""Bounded memory by default: lean load settings, never over the user's own.

A load under these defaults, DuckDB's memory limit read back and the rows compared with
the ground truth: test_orchestration.py's incremental tasks (they apply them, as the CLI
does), so that one load serves both."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dlt
import pytest
from helpers import END, START, TOKEN, assert_tables_match, make_source

from coveo_ua_simulator import Simulator
from coveo_ua_source import run_load, settings
from coveo_ua_source.disk import disk_full_error, full_disk
from coveo_ua_source.warehouse.lean_defaults import lean_load_defaults

MEMORY_LIMIT = json.dumps({"memory_limit": settings.DUCKDB_MEMORY_LIMIT})
MEMORY_LIMIT_ONE_THREAD = json.dumps({"memory_limit": settings.DUCKDB_MEMORY_LIMIT, "threads": 1})


def test_duckdb_gets_two_single_threaded_workers_a_memory_limit_and_plain_parquet() -> None:
    environ: dict[str, str] = {}
    applied = lean_load_defaults("duckdb", environ)
    assert (
        environ
        == applied
        == {
            "DATA_WRITER__COMPRESSION": "none",
            "LOAD__DELETE_COMPLETED_JOBS": "true",
            "LOAD__WORKERS": "2",
            "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG": MEMORY_LIMIT_ONE_THREAD,
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


def test_workers_the_user_chose_keep_duckdbs_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAD__WORKERS", "1")
    environ: dict[str, str] = {}
    lean_load_defaults("duckdb", environ)
    assert environ["DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG"] == MEMORY_LIMIT


def _plain_pipeline(tmp_path: Path, name: str) -> dlt.Pipeline:
    """A user's own DuckDB pipeline; the database is not held open, so dlt opens it with
    the settings it resolved."""
    return dlt.pipeline(
        pipeline_name=name, destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        dataset_name="coveo_ua", pipelines_dir=str(tmp_path / "pipelines"),
    )  # fmt: skip


def _resolved(pipeline: dlt.Pipeline, key: str, config: str) -> str | None:
    """The value dlt resolved for ``key`` of the ``config`` spec in the pipeline's last run,
    as its provider gave it (None when no provider had one: dlt's default was used)."""
    assert pipeline.last_trace is not None
    found = [
        value.value
        for value in pipeline.last_trace.resolved_config_values
        if value.key == key and value.config_type_name == config
    ]
    return str(found[-1]) if found else None


def _setting(pipeline: dlt.Pipeline, name: str) -> str:
    with pipeline.sql_client() as client:
        return str(client.execute_sql(f"SELECT current_setting('{name}')")[0][0])


def _memory_limit(pipeline: dlt.Pipeline) -> str:
    return _setting(pipeline, "memory_limit")


def test_a_plain_pipeline_run_loads_with_the_lean_defaults(
    simulator: Simulator, tmp_path: Path
) -> None:
    pipeline = _plain_pipeline(tmp_path, "plain")
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert _resolved(pipeline, "workers", "LoaderConfiguration") == "2"
    assert _resolved(pipeline, "delete_completed_jobs", "LoadStorageConfiguration") == "true"
    assert _resolved(pipeline, "global_config", "DuckDbCredentials") == MEMORY_LIMIT_ONE_THREAD
    # dlt 1.22 has no Parquet compression setting to resolve; the variable is set on every dlt
    assert os.environ["PLAIN__DATA_WRITER__COMPRESSION"] == "none"
    assert _memory_limit(pipeline) == "488.2 MiB", "DuckDB's limit (512MB as it reports it)"
    assert _setting(pipeline, "threads") == "1"
    assert dlt.config.get("load.workers") is None, "other pipelines keep dlt's defaults"
    assert_tables_match(pipeline, simulator)


def test_a_plain_pipeline_run_keeps_what_the_user_set(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = json.dumps({"memory_limit": "1GB"})
    monkeypatch.setenv("MINE__DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", limit)
    pipeline = _plain_pipeline(tmp_path, "mine")
    pipeline.run(make_source(simulator, tables="searches")).raise_on_failed_jobs()
    assert _memory_limit(pipeline) == "953.6 MiB", "the user's 1GB for this pipeline"
    assert _resolved(pipeline, "workers", "LoaderConfiguration") == "2", "the rest: the defaults"
    monkeypatch.setenv("LOAD__WORKERS", "3")  # set later in the same process
    next_day = make_source(simulator, tables="searches", end_date="2024-03-04")
    pipeline.run(next_day).raise_on_failed_jobs()
    assert _resolved(pipeline, "workers", "LoaderConfiguration") == "3"
    assert _resolved(pipeline, "delete_completed_jobs", "LoadStorageConfiguration") == "true"


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


def test_the_readings_memory_is_given_back_once_every_table_is_read(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import coveo_ua_source.source as source_module

    calls: list[str] = []
    pipeline = _plain_pipeline(tmp_path, "released")
    monkeypatch.setattr(source_module, "release_read_memory", lambda: calls.append("released"))
    pipeline.extract(make_source(simulator, tables="searches,clicks"))
    assert calls == ["released"], "once per extract, when the bookkeeping resource ends"
    pipeline.normalize()
    pipeline.load().raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator, ("searches", "clicks"))


# A user's own run in a fresh interpreter: what it imports is the run's alone.
_PLAIN_RUN = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime

    import dlt
    from coveo_ua_source import coveo_ua_source

    imported = "pandas" in sys.modules  # dlt 1.22 imports pyarrow.dataset, which does
    api_root, folder, token, start, end = sys.argv[1:]
    pipeline = dlt.pipeline(
        pipeline_name="no_pandas", destination=dlt.destinations.duckdb(folder + "/d.duckdb"),
        dataset_name="coveo_ua", pipelines_dir=folder + "/pipelines",
    )
    source = coveo_ua_source(
        access_token=token, base_url=api_root, start_date=datetime.fromisoformat(start),
        end_date=datetime.fromisoformat(end), poll_interval=0.01,
    )
    pipeline.run(source).raise_on_failed_jobs()
    with pipeline.sql_client() as client:
        rejected = client.execute_sql("SELECT count(*) FROM _coveo_ua_rejected_values")[0][0]
    outcome = {"imported": imported, "pandas": "pandas" in sys.modules, "rejected_values": rejected}
    print(json.dumps(outcome))
    """
)


def test_a_run_never_imports_pandas(simulator: Simulator, tmp_path: Path) -> None:
    """pyarrow imports pandas on its first conversion of a Python value (a quarter of a
    second and 40 MB of the run's memory); nothing on a run's way converts one, not even
    the rejected custom dimension values (the simulator's are about one in five)."""
    arguments = [simulator.api_root, str(tmp_path), TOKEN, START.isoformat(), END.isoformat()]
    ran = subprocess.run(
        [sys.executable, "-c", _PLAIN_RUN, *arguments],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    outcome = json.loads(ran.stdout.splitlines()[-1])
    assert outcome["rejected_values"] > 0, "the rejected values' path was taken"
    if outcome["imported"]:
        pytest.skip("this dlt imports pyarrow.dataset, which imports pandas itself")
    assert outcome["pandas"] is False


_HOSTILE_PATHS = """
import sys
import pyarrow as pa
from coveo_ua_source.ingest.csv_text import newline_prefix, repair_utf8

imported = "pandas" in sys.modules  # some dlt versions import it themselves

def binary(*values):
    offsets, data = [0], b""
    for value in values:
        data += value
        offsets.append(len(data))
    offsets_buffer = pa.py_buffer(b"".join(o.to_bytes(4, "little") for o in offsets))
    buffers = [None, offsets_buffer, pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.binary(), len(values), buffers)

repaired, count = repair_utf8(binary(b"ok", b"\\xff"))
text = repair_utf8(binary(b"a\\nb"))[0]
prefix = newline_prefix(pa.RecordBatch.from_arrays([text], names=["t"]), [1])
print(repaired.to_pylist(), count, prefix, imported, "pandas" in sys.modules)
"""


def test_the_repair_paths_never_import_pandas() -> None:
    """They run on the reading threads: a pandas import there races dlt's own check of
    ``sys.modules["pandas"]`` on the main thread (a partially initialised module)."""
    ran = subprocess.run(
        [sys.executable, "-c", _HOSTILE_PATHS], capture_output=True, text=True, check=True
    )
    *results, imported, pandas = ran.stdout.split()
    assert results == ["['ok',", "'\ufffd']", "1", "[0,", "1]"]
    if imported == "True":
        pytest.skip("this dlt imports pyarrow.dataset, which imports pandas itself")
    assert pandas == "False"
