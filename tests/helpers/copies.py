"""Copies of a loaded DuckDB pipeline, so that one load serves several tests that each run
on from the same state in their own folder (a copy costs milliseconds, a run a second).

The layout is the one of ``helpers.pipelines.pipelines_in(folder)(name)``: the database
``<folder>/<name>.duckdb`` and dlt's local state under ``<folder>/pipelines/<name>``.
The connector keeps nothing else between runs (its exports are found again on the service
by their description), so a copy run against another simulator with the same config
behaves as the original pipeline would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb


def copy_loaded_pipeline(source: Path, destination: Path, name: str) -> None:
    """Copy pipeline ``name``'s database and local state from ``source`` to ``destination``."""
    database = source / f"{name}.duckdb"
    if not database.exists():
        raise FileNotFoundError(f"no {name}.duckdb in {source}: load the pipeline there first")
    with duckdb.connect(str(database)) as held:  # the database may be held open
        held.execute("CHECKPOINT")  # everything in the file, the write-ahead log emptied
    destination.mkdir(parents=True, exist_ok=True)
    for file in sorted(source.glob(f"{name}.duckdb*")):
        shutil.copy2(file, destination / file.name)
    shutil.copytree(source / "pipelines" / name, destination / "pipelines" / name)
