"""What the benchmark processes share: the case entry point, RSS, pipelines and timings.

Cases import dlt lazily through these helpers, so that the DuckDB baseline process never
imports dlt and its RSS is DuckDB's alone.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

DATASET = "usage_analytics"
# The connector's data tables: what every case loads and counts.
DATA_TABLES = ("searches", "clicks", "custom_events", "keywords", "groups")

Spec = dict[str, Any]
Result = dict[str, Any]


def _status_mb(field: str) -> float:
    """A memory figure of /proc/self/status (VmRSS, VmHWM) in MB; 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def rss_mb() -> float:
    """This process's resident set size now, in MB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak RSS so far in MB: the kernel's high-water mark of its memory
    (VmHWM). Not ru_maxrss: on Linux a child's ru_maxrss starts at the RSS its parent
    had when it forked it, so a large bench.run would raise every case's figure."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_main(run: Callable[[Spec], Result]) -> None:
    """Entry point of a case module: ``python -m bench.<case> SPEC.json RESULT.json``.

    The result gets ``rss_after_imports_mb`` (the case module's imports are done when this
    is called) and the process's ``peak_rss_mb`` at the end.
    """
    if len(sys.argv) != 3:
        raise SystemExit(f"usage: python -m {sys.argv[0]} SPEC.json RESULT.json")
    spec_path, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(spec_path.read_text())
    after_imports = rss_mb()
    result = run(spec)
    result["rss_after_imports_mb"] = round(after_imports, 1)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result_path.write_text(json.dumps(result, indent=1, default=str))


def new_pipeline(workdir: Path, name: str) -> Any:
    """A dlt pipeline into a fresh DuckDB file, its state in a fresh pipelines_dir."""
    import dlt

    from coveo_ua_source.warehouse.lean_defaults import lean_load_defaults

    workdir.mkdir(parents=True, exist_ok=True)
    lean_load_defaults("duckdb")  # measured as users run it: the CLI's defaults
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(workdir / f"{name}.duckdb")),
        dataset_name=DATASET,
        pipelines_dir=str(workdir / "pipelines"),
    )


def step_seconds(pipeline: Any) -> dict[str, float]:
    """Seconds of each step of the pipeline's last run (extract, normalize, load)."""
    trace = pipeline.last_trace
    if trace is None:
        return {}
    return {
        step.step: round((step.finished_at - step.started_at).total_seconds(), 3)
        for step in trace.steps
        if step.finished_at is not None
    }


def loaded_counts(pipeline: Any, tables: Iterable[str] = DATA_TABLES) -> dict[str, int]:
    """Rows in each destination table (0 for a table that was not created)."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    counts: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in tables:
            name = client.make_qualified_table_name(table)
            try:
                rows = client.execute_sql(f"SELECT count(*) FROM {name}")  # noqa: S608
            except DatabaseUndefinedRelation:
                rows = [(0,)]
            counts[table] = int(rows[0][0])
    return counts


def timed_run(pipeline: Any, data: Any) -> Result:
    """Run the pipeline; wall seconds, step seconds and rows loaded per table."""
    start = time.perf_counter()
    info = pipeline.run(data)
    wall = time.perf_counter() - start
    info.raise_on_failed_jobs()
    counts = loaded_counts(pipeline)
    return {
        "wall_s": round(wall, 3),
        "steps": step_seconds(pipeline),
        "rows_by_table": counts,
        "rows": sum(counts.values()),
    }


def staged_run(pipeline: Any, data: Any, **extract_options: Any) -> Result:
    """Extract, normalize and load in turn (what pipeline.run does), each timed.

    ``rss_after`` is the process's peak RSS when each step ends: the step where it last
    grows is the one that set the peak.
    """
    steps: dict[str, float] = {}
    rss_after: dict[str, float] = {}
    began = time.perf_counter()
    for name, step in (
        ("extract", lambda: pipeline.extract(data, **extract_options)),
        ("normalize", pipeline.normalize),
        ("load", pipeline.load),
    ):
        step_began = time.perf_counter()
        info = step()
        steps[name] = round(time.perf_counter() - step_began, 3)
        rss_after[name] = round(peak_rss_mb(), 1)
    wall = time.perf_counter() - began
    info.raise_on_failed_jobs()
    counts = loaded_counts(pipeline)
    return {
        "wall_s": round(wall, 3),
        "steps": steps,
        "peak_rss_after_step_mb": rss_after,
        "rows_by_table": counts,
        "rows": sum(counts.values()),
    }


def event_times(events: list[tuple[float, str]], origin: float) -> Mapping[str, float]:
    """First and last time (seconds after ``origin``) of each kind of progress event."""
    times: dict[str, float] = {}
    for moment, kind in events:
        times.setdefault(f"first_{kind}", round(moment - origin, 3))
        times[f"last_{kind}"] = round(moment - origin, 3)
    return times
