"""Case (e): a backfill of many small windows against a simulator with a build delay.

The same source and data, once with ``max_concurrent_exports=1`` (each export is built,
downloaded and read before the next is created) and once with the default: while one
export is read, the next ones are already being built.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import Result, Spec, case_main, event_times, new_pipeline, timed_run
from coveo_ua_source import coveo_ua_source


def run(spec: Spec) -> Result:
    events: list[tuple[float, str]] = []
    options: dict[str, Any] = {}
    if spec.get("max_concurrent_exports") is not None:
        options["max_concurrent_exports"] = int(spec["max_concurrent_exports"])
    source = coveo_ua_source(
        access_token=spec["token"],
        base_url=spec["api_root"],
        start_date=datetime.fromisoformat(spec["start"]),
        end_date=datetime.fromisoformat(spec["end"]),
        window=spec["window"],
        workdir=str(Path(spec["workdir"]) / "exports"),
        poll_interval=spec["poll_interval"],
        progress=lambda event: events.append((time.perf_counter(), event.kind)),
        **options,
    )
    pipeline = new_pipeline(Path(spec["workdir"]), "bench_backfill")
    began = time.perf_counter()
    result = timed_run(pipeline, source)
    result["events"] = event_times(events, began)
    result["exports_created"] = sum(kind == "created" for _, kind in events)
    return result


if __name__ == "__main__":
    case_main(run)
