"""Bounded memory by default: lean load settings, never over the user's own.

A load under these defaults, DuckDB's memory limit read back and the rows compared with
the ground truth: test_orchestration.py's incremental tasks (they apply them, as the CLI
does), so that one load serves both."""

from __future__ import annotations

import json

import dlt
import pytest

from coveo_ua_source import settings
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
