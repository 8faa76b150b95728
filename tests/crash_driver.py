"""One load of the coveo_ua source into DuckDB, as a process that tests/runs/test_crash.py can kill.

::

    SOURCES__COVEO_UA__ACCESS_TOKEN=... python tests/crash_driver.py \\
        --api-root URL --database DB --pipelines-dir DIR --start 2024-03-01 --end 2024-03-04 \\
        [--steps [--pause-before-load]] [--pause-after-windows N] [--marker FILE] \\
        [--events FILE] [--lookback P1D] [--postgres URL --dataset NAME]
        [--kill-after-commit TABLE --marker FILE]

Without ``--steps`` the load is one ``pipeline.run``, as a user runs it; with it,
``extract``, ``normalize`` and ``load`` are called one by one so that
``--pause-before-load`` can stop between normalize and load. ``--pause-after-windows N``
stops inside extract once N windows have been read by every table. A pause writes the
marker file (JSON: what was done) and sleeps until the process is killed.

``--events`` appends the source's progress events (created, reattached, polled, ready,
rows...) to a JSON-lines file. ``--kill-after-commit TABLE`` kills the process (SIGKILL)
right after the destination committed the first load job of TABLE and before dlt records
it (its pending-transition marker), the gap in which a resumed package re-runs the job.
``--postgres URL`` loads into PostgreSQL (dataset ``--dataset``) instead of DuckDB.

The last line on stdout is a JSON summary: the steps dlt
ran, the load packages pending before the run, and the load ids.

The tests call :func:`main` in a process forked from one that imported this module and dlt
already (tests/helpers/forked.py); run as a script it does the same.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from helpers.open_database import database_kept_open

from coveo_ua_source import coveo_ua_source
from coveo_ua_source.exports.types import ProgressEvent
from coveo_ua_source.schema import TABLES

PIPELINE_NAME = "coveo_ua_crash"
DATASET_NAME = "coveo_ua"
PAUSE_SECONDS = 600.0  # a paused driver waits this long for its kill


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--api-root", required=True)
    parser.add_argument("--database", required=True, type=Path)
    parser.add_argument("--pipelines-dir", required=True, type=Path)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument("--steps", action="store_true", help="extract, normalize, load apart")
    parser.add_argument("--pause-before-load", action="store_true")
    parser.add_argument("--pause-after-windows", type=int, default=0)
    parser.add_argument("--marker", type=Path, help="written when the driver pauses")
    parser.add_argument("--events", type=Path, help="JSON lines of progress events")
    parser.add_argument("--lookback")
    parser.add_argument("--postgres", help="load into this PostgreSQL server, not DuckDB")
    parser.add_argument("--dataset", default=DATASET_NAME)
    parser.add_argument("--kill-after-commit", metavar="TABLE")
    arguments = parser.parse_args(argv)
    pausing = (
        arguments.pause_before_load or arguments.pause_after_windows or arguments.kill_after_commit
    )
    if pausing and arguments.marker is None:
        parser.error("a pause needs --marker")
    if arguments.pause_before_load and not arguments.steps:
        parser.error("--pause-before-load needs --steps")
    return arguments


def pause(marker: Path, done: dict[str, Any]) -> None:
    """Tell the test where we stopped, then wait to be killed."""
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(json.dumps(done), encoding="utf-8")
    temporary.replace(marker)  # the test never reads a half-written marker
    time.sleep(PAUSE_SECONDS)
    raise SystemExit("the driver paused and was never killed")


class Progress:
    """Records progress events; pauses extract once enough windows were read."""

    def __init__(self, arguments: argparse.Namespace) -> None:
        self._events = arguments.events
        self._marker = arguments.marker
        self._pause_after = arguments.pause_after_windows
        self._tables_read: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        """Called from the extract thread and from the runner's export threads."""
        record = {
            "kind": event.kind,
            "start": event.window.start.isoformat(),
            "end": event.window.end.isoformat(),
            "export_id": event.export_id,
            "detail": event.detail,
        }
        with self._lock:
            if self._events is not None:
                with self._events.open("a", encoding="utf-8") as file:
                    file.write(json.dumps(record, default=str) + "\n")
            if event.kind != "rows":
                return
            self._tables_read[event.window.start.isoformat()] += 1
            read = sorted(start for start, n in self._tables_read.items() if n == len(TABLES))
        if self._pause_after and len(read) >= self._pause_after:
            pause(self._marker, {"windows_read": read})


def kill_after_commit(table: str, marker: Path) -> None:
    """SIGKILL this process once a load job of ``table`` is committed, before dlt records it.

    dlt 1.31 records a finished job as a pending transition first; dlt 1.22 records it by
    moving the job's file to the completed jobs.
    """
    from dlt.common.storages.load_package import PackageStorage

    def kill(load_id: str, file_name: str) -> None:
        if file_name.startswith(f"{table}."):
            marker.write_text(json.dumps({"load_id": load_id, "job": file_name}))
            os.kill(os.getpid(), signal.SIGKILL)

    if hasattr(PackageStorage, "save_pending_transition"):
        save_transition = PackageStorage.save_pending_transition

        def save(self: Any, load_id: str, file_name: str, state: str, *args: Any) -> None:
            if state == "completed":
                kill(load_id, file_name)
            save_transition(self, load_id, file_name, state, *args)

        PackageStorage.save_pending_transition = save  # type: ignore[method-assign]
        return
    complete_job = PackageStorage.complete_job

    def complete(self: Any, load_id: str, file_name: str) -> str:
        kill(load_id, file_name)
        return complete_job(self, load_id, file_name)

    PackageStorage.complete_job = complete  # type: ignore[method-assign]


def destination(arguments: argparse.Namespace) -> Any:
    if arguments.postgres:
        return dlt.destinations.postgres(credentials=arguments.postgres)
    return dlt.destinations.duckdb(str(arguments.database))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    if arguments.kill_after_commit:
        kill_after_commit(arguments.kill_after_commit, arguments.marker)
    with held_open(arguments):
        return load(arguments)


@contextlib.contextmanager
def held_open(arguments: argparse.Namespace) -> Iterator[None]:
    """The DuckDB file held open for the whole run (helpers/open_database.py: dlt then
    shares it instead of reopening it per job). A kill leaves committed transactions in
    its write-ahead log, which the next process replays, as after a kill inside a job."""
    if arguments.postgres:
        yield
        return
    with database_kept_open(arguments.database):
        yield


def load(arguments: argparse.Namespace) -> int:
    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=destination(arguments),
        dataset_name=arguments.dataset,
        pipelines_dir=str(arguments.pipelines_dir),
    )
    pending = {
        "extracted": list(pipeline.list_extracted_load_packages()),
        "normalized": list(pipeline.list_normalized_load_packages()),
    }
    source = coveo_ua_source(
        base_url=arguments.api_root,
        start_date=arguments.start,
        end_date=arguments.end,
        poll_interval=arguments.poll_interval,
        progress=Progress(arguments),
        **({"lookback": arguments.lookback} if arguments.lookback else {}),
    )
    if arguments.steps:
        pipeline.extract(source)
        pipeline.normalize()
        if arguments.pause_before_load:
            pause(arguments.marker, {"normalized": pipeline.list_normalized_load_packages()})
        info: LoadInfo | None = pipeline.load()
    else:
        info = pipeline.run(source)
    if info is not None:
        info.raise_on_failed_jobs()
    trace = pipeline.last_trace
    summary = {
        "steps": [step.step for step in trace.steps] if trace else [],
        "pending": pending,
        "loads": list(info.loads_ids) if info else [],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
