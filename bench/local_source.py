"""Case (b): the real source reading the local zip, no HTTP, into DuckDB.

Why the real source rather than a small read_table wrapper: the wall time and RSS then
include everything the connector does besides the network (planning, sizing, the export
runner and its thread, the export list, the shared feed, read_table, identifier checks, the
bookkeeping rows, state), with the same resources and hints (merge, primary keys).

Only its ``CoveoClient`` is replaced, by LocalClient: exports are AVAILABLE at once and
"downloading" one hard-links the local zip (the feed removes the link after reading).
Any HTTP request fails at once, so a new network call in the source shows up as an
error naming it, instead of slowly timing out.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import shutil
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

import coveo_ua_source.source as source_module
from bench.common import Result, Spec, case_main, new_pipeline, staged_run
from coveo_ua_simulator.dimensions import dimension_types, sim_columns
from coveo_ua_source import coveo_ua_source
from coveo_ua_source.api.client import ExportInfo
from coveo_ua_source.schema import TABLES

_UNROUTABLE = "http://127.0.0.1:9/rest/ua"
# The simulator's dimension types by column type (as its /dimensions/exportables answers).
_TYPES = {"text": "TEXT", "bigint": "NUMBER", "double": "NUMBER", "bool": "BOOLEAN"}


class LocalClient:
    """Stands in for CoveoClient: every export is the local zip, available at once."""

    zip_path: Path
    rows: dict[str, int] = {}  # noqa: RUF012  # set once per process by install()

    def __init__(self, access_token: str, **options: Any) -> None:
        self.org_id = options.get("org_id")
        self.api_root = options.get("base_url") or _UNROUTABLE
        self._exports: dict[str, ExportInfo] = {}

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"the source now calls CoveoClient.{name}, which bench.local_source.LocalClient "
            "does not fake yet: add it there"
        )

    def close(self) -> None:
        """Nothing to close."""

    def exportable_dimensions(self) -> list[dict[str, Any]]:
        """What the simulator's endpoint answers for the generated data: the same types."""
        custom = dimension_types(())
        return [
            {
                "displayName": column.display_name,
                "returnName": f"{table}.{column.api_name.lower()}",
                "type": custom.get(
                    f"{table}.{column.api_name.lower()}", _TYPES.get(column.type, "DATETIME")
                ),
                "custom": column.api_name.startswith("c_"),
            }
            for table in TABLES
            for column in sim_columns(table)
        ]

    def row_limit(self) -> int:
        return 10**12

    def service_now(self) -> datetime | None:
        """No answer carries a ``Date``: the source plans by this machine's clock."""
        return None

    def estimate(self, start: datetime, end: datetime, **options: Any) -> dict[str, int]:
        tables = options.get("tables") or list(self.rows)
        return {table: self.rows.get(table, 0) for table in tables}

    def create_export(self, start: datetime, end: datetime, **options: Any) -> ExportInfo:
        export_id = str(uuid.uuid4())
        info = ExportInfo.from_api(
            {
                "id": export_id,
                "status": "AVAILABLE",
                "from": int(start.timestamp() * 1000),
                "to": int(end.timestamp() * 1000) - 1,
                "tables": [table.upper() for table in options.get("tables") or self.rows],
                "size": self.zip_path.stat().st_size,
                "description": options.get("description"),
                "downloadLink": "file://local",
            }
        )
        self._exports[export_id] = info
        return info

    def get_export(self, export_id: str) -> ExportInfo:
        return self._exports[export_id]

    def list_exports(self) -> list[ExportInfo]:
        return list(self._exports.values())

    def delete_export(self, export_id: str) -> None:
        self._exports.pop(export_id, None)

    def download_export(self, export_id: str, destination: Path, **options: Any) -> int:
        destination.unlink(missing_ok=True)
        try:
            os.link(self.zip_path, destination)
        except OSError:  # another file system
            shutil.copyfile(self.zip_path, destination)
        return destination.stat().st_size


def _no_http(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("case (b) must not make HTTP requests; fake the call in LocalClient")


def install(spec: Spec) -> None:
    """Replace the source's client by LocalClient serving ``spec["zip_path"]``."""
    LocalClient.zip_path = Path(spec["zip_path"])
    LocalClient.rows = dict(spec["rows"])
    source_module.CoveoClient = LocalClient  # type: ignore[attr-defined,assignment]
    requests.Session.send = _no_http  # type: ignore[method-assign]


def build(spec: Spec, name: str) -> tuple[Any, Any]:
    """The pipeline and the real source over the local zip (one window: the whole range)."""
    install(spec)
    start = datetime.fromisoformat(spec["start"])
    end = datetime.fromisoformat(spec["end"])
    workdir = Path(spec["workdir"])
    source = coveo_ua_source(
        access_token="local",  # noqa: S106  # LocalClient takes any token
        base_url=_UNROUTABLE,
        start_date=start,
        end_date=end,
        window=end - start,
        workdir=str(workdir / "exports"),
        poll_interval=0.01,
    )
    return new_pipeline(workdir, name), source


def run(spec: Spec) -> Result:
    pipeline, source = build(spec, "bench_local")
    return staged_run(pipeline, source)


def extract_only(spec: Spec) -> Result:
    """The extract step alone (for its peak RSS): no normalize, no load.

    With ``spec["profile"]``, extract runs under cProfile and the result lists the
    functions with the most own time.
    """
    pipeline, source = build(spec, "bench_extract")
    profiler = cProfile.Profile() if spec.get("profile") else None
    began = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    pipeline.extract(source)
    wall = time.perf_counter() - began
    result: Result = {"wall_s": round(wall, 3), "rows": sum(spec["rows"].values())}
    if profiler is not None:
        profiler.disable()
        result["profile"] = top_functions(profiler, 15)
    return result


def top_functions(profiler: cProfile.Profile, count: int) -> list[str]:
    """The functions with the most own time: "own s, cumulative s, calls, where"."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [
        f"{own:7.2f} {cumulative:7.2f} {calls:>8} {Path(file).name}:{line}({name})"
        for (file, line, name), (_, calls, own, cumulative, _) in rows
    ]


if __name__ == "__main__":
    case_main(run)
