"""Where a run's time goes, measured inside the case's process by wrapping functions.

A probe charges the wall seconds spent in a function to a stage, less what probes nested
inside it charge (per thread), so the stages of one thread add up without overlap. The
steps (extract, normalize, load) are timed apart, with the process's CPU seconds and peak
RSS when each ends. Nothing here changes what the wrapped functions do.
"""

from __future__ import annotations

import functools
import resource
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from bench.common import peak_rss_mb


def cpu_seconds() -> float:
    """CPU seconds of this process so far, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Frame:
    __slots__ = ("nested", "started")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.nested = 0.0


class Probes:
    """Seconds and calls per stage, charged by wrapped functions."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.steps: dict[str, dict[str, float]] = {}
        self._steps_entered: list[str] = []  # pipeline.run, then the step inside it
        self._lock = threading.Lock()
        self._local = threading.local()

    def _enter(self) -> _Frame:
        stack = self._local.__dict__.setdefault("stack", [])
        frame = _Frame()
        stack.append(frame)
        return frame

    def _leave(self, stage: str) -> None:
        stack: list[_Frame] = self._local.stack
        frame = stack.pop()
        elapsed = time.perf_counter() - frame.started
        if stack:
            stack[-1].nested += elapsed
        if stage.startswith("dlt: "):  # charged to the step it happens in
            stage = f"{self.current_step}: {stage}"
        with self._lock:
            self.seconds[stage] += elapsed - frame.nested
            self.calls[stage] += 1

    def wrap(self, owner: Any, name: str, stage: str | Callable[..., str]) -> None:
        """Charge calls of ``owner.name`` to ``stage`` (or to ``stage(*args)``)."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._enter()
            try:
                return original(*args, **kwargs)
            finally:
                self._leave(stage if isinstance(stage, str) else stage(*args))

        setattr(owner, name, timed)

    def wrap_generator(self, owner: Any, name: str, stage: str) -> None:
        """Charge the time spent producing each item of the iterator ``owner.name`` returns."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            items = iter(original(*args, **kwargs))
            while True:
                self._enter()
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    self._leave(stage)
                yield item

        setattr(owner, name, timed)

    @property
    def current_step(self) -> str:
        """The step running (``run`` outside the steps of pipeline.run; ``set-up`` before)."""
        return self._steps_entered[-1] if self._steps_entered else "set-up"

    def wrap_step(self, owner: Any, name: str) -> None:
        """Time a pipeline step: wall seconds, CPU seconds, and peak RSS when it ends."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), cpu_seconds()
            self._steps_entered.append(name)
            try:
                return original(*args, **kwargs)
            finally:
                self._steps_entered.pop()
                self.steps[name] = {
                    "wall_s": round(time.perf_counter() - wall, 3),
                    "cpu_s": round(cpu_seconds() - cpu, 3),
                    "peak_rss_mb": round(peak_rss_mb(), 1),
                }

        setattr(owner, name, timed)


def install(probes: Probes) -> None:
    """Wrap the connector's and dlt's functions whose time the daily case reports."""
    import dlt
    from dlt.common.data_writers.buffered import BufferedDataWriter
    from dlt.common.destination import Destination
    from dlt.common.destination.client import RunnableLoadJob
    from dlt.destinations.job_client_impl import SqlJobClientBase

    import coveo_ua_source.source as source_module
    from coveo_ua_source.api.client import CoveoClient
    from coveo_ua_source.ingest.batch_conversion import BatchConverter
    from coveo_ua_source.ingest.parquet_files import ParquetFiles
    from coveo_ua_source.warehouse.dimension_catalog import BatchTyper

    for step in ("run", "extract", "normalize", "load"):
        probes.wrap_step(dlt.Pipeline, step)
    probes.wrap(source_module, "start_run", "extract: plan (turn, destination look-ups, export)")
    probes.wrap(CoveoClient, "exportable_dimensions", "extract: custom dimension catalog")
    probes.wrap(CoveoClient, "download_export", "extract: download (its own thread)")
    probes.wrap_generator(source_module, "read_table", "extract: inflate and parse CSV")
    for name in ("convert", "assemble"):
        probes.wrap(BatchConverter, name, "extract: typing (catalog columns)")
    probes.wrap(BatchTyper, "apply", "extract: typing (custom dimensions)")
    probes.wrap(source_module, "keep_inside", "extract: typing (rows outside the window)")
    for name in ("write", "close"):
        probes.wrap(ParquetFiles, name, "extract: Parquet writing")
    for name in ("write_data_item", "close"):
        probes.wrap(BufferedDataWriter, name, "extract: dlt's writer (bookkeeping tables)")
    probes.wrap(RunnableLoadJob, "run_managed", _load_job_stage)
    for name in ("update_stored_schema", "complete_load", "get_stored_state", "initialize_storage"):
        probes.wrap(SqlJobClientBase, name, "dlt: state, schema and load records")
    probes.wrap(Destination, "capabilities", "dlt: destination capabilities() resolved")


def _load_job_stage(job: Any, *args: Any) -> str:
    info = job.job_file_info()
    if info.file_format == "sql":
        return "load: merge SQL"
    if info.table_name.startswith("_dlt"):
        return "dlt: state, schema and load records"
    if info.table_name.startswith("_coveo_ua"):
        return "load: the connector's bookkeeping tables"
    return "load: Parquet into DuckDB"
