"""Bounded memory by default: lean load settings, never over the user's own."""

from __future__ import annotations

import json
from collections.abc import Callable

import dlt
import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import assert_tables_match, make_source

from coveo_ua_source import settings
from coveo_ua_source.simulator import Simulator
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
            "LOAD__WORKERS": "1",
            "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG": MEMORY_LIMIT,
        }
    )
    assert lean_load_defaults("dlt.destinations.duckdb", {}) == applied
    assert lean_load_defaults(dlt.destinations.duckdb("lean.duckdb"), {}) == applied


def test_other_destinations_keep_their_workers() -> None:
    assert lean_load_defaults("postgres", {}) == {"DATA_WRITER__COMPRESSION": "none"}
    assert lean_load_defaults(dlt.destinations.postgres(), {}) == {
        "DATA_WRITER__COMPRESSION": "none"
    }


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
    ],
)  # fmt: skip
def test_a_setting_the_user_configured_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, kept: str
) -> None:
    monkeypatch.setenv(variable, value)
    environ: dict[str, str] = {}
    lean_load_defaults("duckdb", environ)
    assert kept not in environ
    assert len(environ) == 2, "the other settings are still applied"


def test_a_pipeline_after_the_defaults_loads_within_the_memory_limit(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    lean_load_defaults("duckdb")  # os.environ; conftest clears these variables per test
    pipeline = make_pipeline("coveo_ua_lean")
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)
    with pipeline.sql_client() as client:
        [(limit,)] = client.execute_sql("SELECT current_setting('memory_limit')")
    assert limit == "488.2 MiB", "512MB as DuckDB reports it"
