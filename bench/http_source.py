"""Case (a): the real source over HTTP against a simulator process, into DuckDB.

One window covers the whole range, so the simulator serves one big export. The
simulator builds an export's zip lazily, inside the first download request, which takes
about as long as generating the data; so bench.run first runs this module with
``spec["warm_up"]``: the source's extract step alone, which creates the export, waits
for it, downloads it (the build happens here, and is timed from the progress events)
and reads it. The measured runs then use the same pipeline name and exports folder, so
the source reattaches to that export (found in the export list, as after a crash) and
downloads the already-built zip: their wall time is the connector's (plan, estimate,
download, read, extract, normalize, load), not the simulator's build.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from bench.common import (
    Result,
    Spec,
    case_main,
    event_times,
    new_pipeline,
    staged_run,
)
from coveo_ua_source import coveo_ua_source

PIPELINE_NAME = "bench_http"  # the same for the warm-up and the runs: the export's scope


def run(spec: Spec) -> Result:
    start = datetime.fromisoformat(spec["start"])
    end = datetime.fromisoformat(spec["end"])
    events: list[tuple[float, str]] = []
    source = coveo_ua_source(
        access_token=spec["token"],
        base_url=spec["api_root"],
        start_date=start,
        end_date=end,
        window=end - start,
        workdir=spec["exports_dir"],
        poll_interval=spec.get("poll_interval", 0.05),
        keep_exports=True,
        progress=lambda event: events.append((time.perf_counter(), event.kind)),
    )
    pipeline = new_pipeline(Path(spec["workdir"]), PIPELINE_NAME)
    began = time.perf_counter()
    if spec.get("warm_up"):
        pipeline.extract(source)
        seconds = round(time.perf_counter() - began, 3)
        result: Result = {"wall_s": seconds, "steps": {"extract": seconds}}
        result["build_s"] = build_seconds(events)
    else:
        result = staged_run(pipeline, source)
    result["events"] = event_times(events, began)
    result["reattached"] = any(kind == "reattached" for _, kind in events)
    result["created"] = sum(kind == "created" for _, kind in events)
    return result


def build_seconds(events: list[tuple[float, str]]) -> float | None:
    """From the poll that saw the export AVAILABLE to its first MiB: the lazy zip build."""
    first_bytes = min((t for t, kind in events if kind == "downloading"), default=None)
    if first_bytes is None:
        return None
    polled = [t for t, kind in events if kind == "polled" and t < first_bytes]
    return round(first_bytes - max(polled), 3) if polled else None


if __name__ == "__main__":
    case_main(run)
