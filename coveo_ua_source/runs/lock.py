"""One run at a time per pipeline: an exclusive lock file beside dlt's pipeline folder.

The lock is ``<pipelines_dir>/.<pipeline_name>.lock``, outside the pipeline's own working
folder, which dlt may wipe. It is an ``flock``: the kernel releases it when its holder
exits or dies, so a lock left by a killed run is simply taken over. The file records the
holder's pid, host and start time for the error a refused run shows. It keeps two
processes out of one pipelines folder (dlt's working files); which runs may load into a
dataset, on any number of machines, is the dataset's lease (``runs/lease.py``).

Within one thread the lock is re-entrant.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import dlt

from coveo_ua_source import settings
from coveo_ua_source.exceptions import PipelineLockedError

logger = logging.getLogger(__name__)


@dataclass
class _Held:
    file: IO[str]
    thread: int
    depth: int


_held: dict[Path, _Held] = {}
# Reentrant: a run left half-read releases its lock when the garbage collector frees it,
# and the collector may run that release in a thread that is inside _acquire already.
_held_guard = threading.RLock()


def lock_path(
    pipeline: dlt.Pipeline | str, pipelines_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Where the lock of a pipeline (object, or name plus pipelines_dir) lives."""
    if isinstance(pipeline, dlt.Pipeline):
        return Path(pipeline.pipelines_dir) / f".{pipeline.pipeline_name}.lock"
    folder = pipelines_dir or dlt.current.run_context().get_data_entity("pipelines")
    return Path(folder) / f".{pipeline}.lock"


@contextmanager
def pipeline_lock(
    pipeline: dlt.Pipeline | str,
    pipelines_dir: str | os.PathLike[str] | None = None,
    wait: float = 0.0,
) -> Iterator[Path]:
    """Hold the pipeline's run lock, waiting up to ``wait`` seconds for another holder to
    finish, else raise ``PipelineLockedError``.

    >>> with pipeline_lock(pipeline):  # doctest: +SKIP
    ...     pipeline.run(coveo_ua_source())
    """
    path = lock_path(pipeline, pipelines_dir).resolve()
    name = pipeline.pipeline_name if isinstance(pipeline, dlt.Pipeline) else pipeline
    _acquire_within(path, name, wait)
    try:
        yield path
    finally:
        _release(path)


def _acquire_within(path: Path, name: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    delay, told = 0.05, False
    while True:
        try:
            _acquire(path, name)
            return
        except PipelineLockedError:
            if time.monotonic() + delay > deadline:
                raise
            if not told:
                logger.warning("waiting for pipeline %r: another run holds %s", name, path)
                told = True
            time.sleep(delay)
            delay = min(delay * 2, settings.LEASE_POLL_MAX)


def _acquire(path: Path, name: str) -> None:
    with _held_guard:
        held = _held.get(path)
        if held is not None:
            if held.thread != threading.get_ident():
                raise _locked_error(name, path, _holder(held.file))
            held.depth += 1
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        file = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(file)
            file.close()
            raise _locked_error(name, path, holder) from None
        _write_holder(file)
        _held[path] = _Held(file, threading.get_ident(), 1)


def _release(path: Path) -> None:
    with _held_guard:
        held = _held[path]
        held.depth -= 1
        if held.depth == 0:
            del _held[path]
            held.file.truncate(0)
            held.file.close()  # closing the descriptor releases the flock


def _write_holder(file: IO[str]) -> None:
    since = datetime.now(UTC).isoformat(timespec="seconds")
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}))
    file.flush()


def _holder(file: IO[str]) -> dict[str, str]:
    file.seek(0)
    try:
        recorded = json.loads(file.read() or "{}")
    except ValueError:
        recorded = {}
    return {key: str(recorded.get(key, "unknown")) for key in ("pid", "host", "since")}


def _locked_error(name: str, path: Path, holder: dict[str, str]) -> PipelineLockedError:
    return PipelineLockedError(
        f"pipeline {name!r} is already running: process {holder['pid']} on host "
        f"{holder['host']} holds {path} since {holder['since']}. This run changed nothing. "
        "Wait for that run to finish (a killed holder releases the lock by itself), and "
        "limit your scheduler to one active run per pipeline (Airflow: max_active_runs=1)"
    )


__all__ = ["PipelineLockedError", "lock_path", "pipeline_lock"]
