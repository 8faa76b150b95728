"""Bounded memory by default: settings that bound the load's memory, unless the user set them.

``lean_load_defaults(destination)`` sets, as environment variables of this process, each
setting that no dlt config provider (environment, ``.dlt/*.toml``, ...) has a value for:

- ``data_writer.compression = "none"``: Parquet written uncompressed (every destination);
- ``load.delete_completed_jobs = true``: a load package's files are removed once loaded
  (every destination; set it false to keep them);
- DuckDB only: ``load.workers = 1`` and a ``memory_limit`` in the credentials'
  ``global_config`` (not when ``global_config``, ``local_config`` or ``pragmas`` are set).

The CLI, the demo and the example pipelines call it before creating their pipeline.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from typing import Any, NamedTuple

import dlt

from coveo_ua_source import settings


class _Default(NamedTuple):
    keys: tuple[str, ...]  # the config keys under which a user may have set it
    variable: str  # the environment variable set when none of them is
    value: str


_COMPRESSION = _Default(
    ("data_writer.compression", "normalize.data_writer.compression"),
    "DATA_WRITER__COMPRESSION",
    settings.PARQUET_COMPRESSION,
)
# A completed package's files are of no use once the destination holds them; dlt keeps them
# by default, and a long-lived pipelines folder then grows without bound.
_DELETE_COMPLETED = _Default(("load.delete_completed_jobs",), "LOAD__DELETE_COMPLETED_JOBS", "true")
_WORKERS = _Default(("load.workers",), "LOAD__WORKERS", str(settings.DUCKDB_LOAD_WORKERS))
_MEMORY_LIMIT = _Default(
    tuple(
        f"destination.duckdb.credentials.{name}"
        for name in ("global_config", "local_config", "pragmas")
    ),
    "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG",
    json.dumps({"memory_limit": settings.DUCKDB_MEMORY_LIMIT}),
)


def lean_load_defaults(
    destination: Any, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Set the lean defaults nobody configured; returns the variables it set.

    ``destination``: a name (``"duckdb"``, ``"dlt.destinations.duckdb"``), a dlt destination
    object, or None.
    """
    target = os.environ if environ is None else environ
    chosen = [_COMPRESSION, _DELETE_COMPLETED]
    if _destination_name(destination) == "duckdb":
        chosen += [_WORKERS, _MEMORY_LIMIT]
    applied: dict[str, str] = {}
    for default in chosen:
        if default.variable not in target and not any(map(_configured, default.keys)):
            target[default.variable] = applied[default.variable] = default.value
    return applied


def _destination_name(destination: Any) -> str:
    """``duckdb`` for "duckdb", "dlt.destinations.duckdb", ``dlt.destinations.duckdb(...)``."""
    if destination is not None and not isinstance(destination, str):
        destination = getattr(destination, "destination_type", None)
    return (destination or "").rsplit(".", 1)[-1]


def _configured(key: str) -> bool:
    return dlt.config.get(key) is not None
