"""Bounded memory by default: settings that bound the load's memory, unless the user set them.

``lean_load_defaults(destination)`` sets, as environment variables of this process, each
setting that no dlt config provider (environment, ``.dlt/*.toml``, ...) has a value for:

- ``data_writer.compression = "none"``: Parquet written uncompressed (every destination);
- ``load.delete_completed_jobs = true``: a load package's files are removed once loaded
  (every destination; set it false to keep them);
- DuckDB only: ``load.workers = 2`` and, in the credentials' ``global_config``, a
  ``memory_limit`` and (only where the workers are this default too) ``threads = 1``:
  two tables copied at once, each by one DuckDB thread; not when ``global_config``,
  ``local_config`` or ``pragmas`` are set.

The CLI, the demo and ``run_load`` call it before their run. The source itself calls
``pipeline_lean_defaults(pipeline)`` as each extract starts, before it writes a file or
opens the destination, so that a plain ``pipeline.run(coveo_ua_source(...))`` loads the
same way: there the variables name the pipeline (``<PIPELINE_NAME>__LOAD__WORKERS``), so
the process's other pipelines keep dlt's defaults. A value the user set anywhere dlt
looks (for every pipeline or for this one; an explicit credentials object) wins.
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
_DUCKDB_MEMORY = {"memory_limit": settings.DUCKDB_MEMORY_LIMIT}
_DUCKDB_CONFIG = _Default(
    tuple(
        f"destination.duckdb.credentials.{name}"
        for name in ("global_config", "local_config", "pragmas")
    ),
    "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG",
    json.dumps(_DUCKDB_MEMORY),
)
# One DuckDB thread per load job suits the default workers only: under workers the user
# chose (one, say), the jobs keep DuckDB's threads.
_DUCKDB_CONFIG_WITH_WORKERS = _DUCKDB_CONFIG._replace(
    value=json.dumps({**_DUCKDB_MEMORY, "threads": settings.DUCKDB_LOAD_THREADS})
)


def lean_load_defaults(
    destination: Any,
    environ: MutableMapping[str, str] | None = None,
    *,
    pipeline_name: str | None = None,
) -> dict[str, str]:
    """Set the lean defaults nobody configured; returns the variables it set.

    ``destination``: a name (``"duckdb"``, ``"dlt.destinations.duckdb"``), a dlt destination
    object, or None. With ``pipeline_name``, only that pipeline's settings are set.
    """
    target = os.environ if environ is None else environ
    applied: dict[str, str] = {}
    for default in (_COMPRESSION, _DELETE_COMPLETED):
        _apply(default, target, pipeline_name, applied)
    if _destination_name(destination) == "duckdb":
        workers = _apply(_WORKERS, target, pipeline_name, applied)
        duckdb_config = _DUCKDB_CONFIG_WITH_WORKERS if workers else _DUCKDB_CONFIG
        _apply(duckdb_config, target, pipeline_name, applied)
    if target is os.environ:
        _SET_HERE.update(applied)
    return applied


# What this process's calls set in os.environ: decided again at each call, so that a
# setting the user makes later in a long-lived process (a notebook, a worker) wins.
_SET_HERE: dict[str, str] = {}


def _apply(
    default: _Default,
    target: MutableMapping[str, str],
    pipeline_name: str | None,
    applied: dict[str, str],
) -> bool:
    """Set ``default`` in ``target`` unless someone configured it; whether it was set."""
    variable = _variable(default, pipeline_name)
    _retract_own(target, variable)
    if variable in target or _set_by_user(default, pipeline_name):
        return False
    target[variable] = applied[variable] = default.value
    return True


def _retract_own(target: MutableMapping[str, str], variable: str) -> None:
    """Take back ``variable`` if an earlier call set it and nobody changed it since."""
    ours = target is os.environ and variable in _SET_HERE
    if ours and target.get(variable) == _SET_HERE.pop(variable):
        del target[variable]


def pipeline_lean_defaults(pipeline: Any) -> dict[str, str]:
    """The lean defaults of ``pipeline`` alone, for its destination; what it set."""
    return lean_load_defaults(pipeline.destination, pipeline_name=pipeline.pipeline_name)


def _variable(default: _Default, pipeline_name: str | None) -> str:
    # dlt looks a setting up under the pipeline's name first: PIPELINE__LOAD__WORKERS
    if pipeline_name is None:
        return default.variable
    return f"{pipeline_name.upper()}__{default.variable}"


def _set_by_user(default: _Default, pipeline_name: str | None) -> bool:
    keys = list(default.keys)
    if pipeline_name is not None:
        keys += [f"{pipeline_name}.{key}" for key in default.keys]
    return any(map(_configured, keys))


def _destination_name(destination: Any) -> str:
    """``duckdb`` for "duckdb", "dlt.destinations.duckdb", ``dlt.destinations.duckdb(...)``."""
    if destination is not None and not isinstance(destination, str):
        destination = getattr(destination, "destination_type", None)
    return (destination or "").rsplit(".", 1)[-1]


def _configured(key: str) -> bool:
    return dlt.config.get(key) is not None
