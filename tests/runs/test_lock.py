"""One process at a time per pipeline folder (the lock, its error), and runs that overlap:
real processes that wait for their turn."""

from __future__ import annotations

import gc
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline
from helpers import TOKEN, assert_loaded_match, forked, loaded_tables, utc
from helpers.forked import ForkedProcess

from coveo_ua_simulator import Simulator
from coveo_ua_source import (
    DatasetBusyError,
    PipelineLockedError,
    coveo_ua_source,
    pipeline_lock,
)
from coveo_ua_source.runs import lock as lock_module
from coveo_ua_source.runs.lock import lock_path
from coveo_ua_source.schema import TABLES

START, END = utc(2024, 3, 1), utc(2024, 3, 3)


@pytest.fixture
def hold_in_process(tmp_path: Path) -> Iterator[Callable[[str], ForkedProcess]]:
    """Start a process that holds a pipeline's lock (in tmp_path/pipelines) until killed."""
    started: list[ForkedProcess] = []

    def hold(name: str) -> ForkedProcess:
        out = tmp_path / f"holder-{name}.out"
        process = forked.start(
            "helpers.targets:hold_pipeline_lock", [name, str(tmp_path / "pipelines")],
            environment=dict(os.environ), cwd=tmp_path, stdout=out,
            stderr=tmp_path / f"holder-{name}.err",
        )  # fmt: skip
        started.append(process)
        process.wait_for(
            lambda: out.exists() and out.read_text() == "held\n", 60, "the holder to take the lock"
        )
        assert process.poll() is None, (tmp_path / f"holder-{name}.err").read_text()
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait(timeout=10)


def test_a_second_holder_is_refused_with_who_holds_it_and_what_to_do(
    hold_in_process: Callable[[str], ForkedProcess], tmp_path: Path
) -> None:
    holder = hold_in_process("coveo_ua_locked")
    with (
        pytest.raises(PipelineLockedError) as refused,
        pipeline_lock("coveo_ua_locked", tmp_path / "pipelines"),
    ):
        pytest.fail("the lock was taken twice")
    message = str(refused.value)
    assert "pipeline 'coveo_ua_locked' is already running" in message
    assert f"process {holder.pid} on host {socket.gethostname()}" in message
    assert " since 20" in message
    assert "max_active_runs=1" in message


def test_a_dead_holders_lock_is_taken_over(
    hold_in_process: Callable[[str], ForkedProcess], tmp_path: Path
) -> None:
    holder = hold_in_process("coveo_ua_dead")
    holder.kill()
    holder.wait(timeout=10)
    with pipeline_lock("coveo_ua_dead", tmp_path / "pipelines") as path:
        assert path.read_text().startswith(f'{{"pid": {os.getpid()},')


def test_the_lock_is_reentrant_in_its_thread_and_refused_in_another(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipeline = make_pipeline("coveo_ua_threads")
    path = lock_path(pipeline)
    assert path.parent == Path(pipeline.pipelines_dir), "outside dlt's working folder"
    refused: list[BaseException] = []

    def other_thread() -> None:
        try:
            with pipeline_lock(pipeline):
                pass
        except PipelineLockedError as error:
            refused.append(error)

    with pipeline_lock(pipeline), pipeline_lock(pipeline):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert len(refused) == 1
    with pipeline_lock(pipeline):  # released by the outermost exit
        pass


def test_a_release_by_the_garbage_collector_inside_an_acquire_does_not_deadlock(
    tmp_path: Path,
) -> None:
    """A run left half-read releases its lock when the garbage collector frees it, and the
    collector may run in any thread at any allocation: here inside another lock's acquire,
    which holds the module's guard that the release takes too."""
    abandoned = pipeline_lock("abandoned", tmp_path)
    abandoned.__enter__()
    released: list[bool] = []

    def inside_the_guard_of_acquire() -> bool:
        frame = sys._getframe()
        while frame is not None and frame.f_code is not lock_module._acquire.__code__:
            frame = frame.f_back
        if frame is None:
            return False
        guard: Any = lock_module._held_guard
        owned = getattr(guard, "_is_owned", None)  # an RLock: this thread owns it
        return bool(owned() if owned is not None else guard.locked())

    def collector(phase: str, _info: dict[str, int]) -> None:
        if phase == "start" and not released and inside_the_guard_of_acquire():
            released.append(True)
            abandoned.__exit__(None, None, None)  # as the abandoned run's clean-up does

    def acquire_another() -> None:
        for _ in range(200):  # until a collection falls inside the guard
            with pipeline_lock("another", tmp_path):
                pass
            if released:
                return

    thread = threading.Thread(target=acquire_another, daemon=True)
    thresholds = gc.get_threshold()
    gc.callbacks.append(collector)
    gc.set_threshold(1)  # a collection at almost every allocation
    try:
        thread.start()
        thread.join(60)
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(collector)
    assert not thread.is_alive(), "the release waited for the guard its own thread held"
    assert released == [True], "the collector ran inside the acquire, holding the guard"
    with pipeline_lock("abandoned", tmp_path):  # released, so free again
        pass


def test_a_bare_pipeline_run_waits_for_the_datasets_turn_then_says_it_is_busy(
    simulator: Simulator, tmp_path: Path
) -> None:
    """Another process loads into the same DuckDB file: a bare pipeline.run waits for its
    turn up to lease_timeout, then fails saying who holds the dataset, changing nothing."""
    database = tmp_path / "bare.duckdb"
    out = tmp_path / "holder.out"
    holder = forked.start(
        "helpers.targets:hold_dataset_turn", [str(database), "coveo_ua"],
        environment=dict(os.environ), cwd=tmp_path, stdout=out, stderr=tmp_path / "holder.err",
    )  # fmt: skip
    try:
        holder.wait_for(lambda: out.exists() and out.read_text() == "held\n", 60, "the holder")
        pipeline = dlt.pipeline(
            pipeline_name="coveo_ua_bare",
            destination=dlt.destinations.duckdb(str(database)),
            dataset_name="coveo_ua",
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        source = coveo_ua_source(
            access_token=TOKEN, base_url=simulator.api_root, start_date=START, end_date=END,
            lease_timeout=0.5, poll_interval=0.05,
        )  # fmt: skip
        with pytest.raises(PipelineStepFailed) as failed:
            pipeline.run(source)
        busy = root_cause(failed.value)
        assert isinstance(busy, DatasetBusyError), failed.value
        assert "pipeline 'turn_holder'" in str(busy), "the message names who holds the dataset"
        assert "changed nothing" in str(busy)
        assert "lease_timeout" in str(busy)
        assert pipeline.state.get("sources", {}) == {}, "no state moved"
        assert not database.exists() or not loaded_tables_exist(database), "nothing loaded"
    finally:
        holder.kill()
        holder.wait(timeout=10)
    created = simulator.created_count
    assert created >= 1, "the run built its first exports while it waited"
    pipeline.run(source).raise_on_failed_jobs()  # the holder is gone: its turn is free
    assert simulator.created_count == created, "the rerun reattached to the exports built"
    assert_loaded_match(loaded_tables(pipeline, TABLES), simulator, END, start=START)


def root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def loaded_tables_exist(database: Path) -> bool:
    with duckdb.connect(str(database), read_only=True) as connection:
        found = connection.sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'searches'"
        ).fetchall()
    return bool(found[0][0])


def start_cli_load(simulator: Simulator, root: Path, label: str) -> ForkedProcess:
    arguments = [
        "load", "--base-url", simulator.api_root,
        "--start-date", START.isoformat(), "--end-date", END.isoformat(),
        "--pipeline-name", "coveo_ua_overlap", "--dataset-name", "coveo_ua",
        "--no-progress", "--no-views",
    ]  # fmt: skip
    environment = {
        **os.environ,
        "SOURCES__COVEO_UA__ACCESS_TOKEN": TOKEN,
        "SOURCES__COVEO_UA__POLL_INTERVAL": "0.05",
        "DLT_DATA_DIR": str(root / "dlt"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    return forked.start(
        "coveo_ua_source.cli.main:main", arguments, environment=environment, cwd=root,
        stdout=root / f"{label}.out", stderr=root / f"{label}.err",
    )  # fmt: skip


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, f"waited 120 s for {what}"
        time.sleep(0.02)  # real processes: poll their progress


def finish_slow_builds(simulator: Simulator, runs: list[ForkedProcess]) -> None:
    """Let every export held by the "slow" fault be built, until all ``runs`` have ended."""
    simulator.clear_faults()
    deadline = time.monotonic() + 120
    while any(run.poll() is None for run in runs):
        assert time.monotonic() < deadline, "the run holding the lock never finished"
        simulator.end_slow_builds()  # also an export created while this loop runs
        time.sleep(0.02)


def saying_they_wait(root: Path) -> list[str]:
    said = [path.read_text() for path in root.glob("?.err")]
    return [text for text in said if "waiting for pipeline 'coveo_ua_overlap'" in text]


def read_errors(root: Path, labels: str) -> dict[str, str]:
    return {label: (root / f"{label}.err").read_text() for label in labels}


@pytest.mark.slow
def test_overlapping_cli_loads_wait_their_turn_and_load_each_row_once(
    simulator: Simulator, tmp_path: Path
) -> None:
    # The exports stay PENDING until released below, so the first run is still working,
    # whatever the machine's load, while the others start and wait.
    simulator.inject("slow", count=10, seconds=600)
    together = [start_cli_load(simulator, tmp_path, label) for label in ("a", "b")]
    wait_until(lambda: simulator.created_count > 0, "the first export")
    later = start_cli_load(simulator, tmp_path, "c")
    runs = [*together, later]
    wait_until(lambda: len(saying_they_wait(tmp_path)) == 2, "two runs to say they wait")
    assert all(run.poll() is None for run in runs), read_errors(tmp_path, "abc")
    finish_slow_builds(simulator, runs)
    codes = {label: run.wait(timeout=120) for label, run in zip("abc", runs, strict=True)}
    assert codes == {"a": 0, "b": 0, "c": 0}, read_errors(tmp_path, "abc")
    assert simulator.created_count == 2, "the runs that waited found every window loaded"
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua_overlap",
        destination=dlt.destinations.duckdb(str(tmp_path / "coveo_ua_overlap.duckdb")),
        dataset_name="coveo_ua",
        pipelines_dir=str(tmp_path / "check"),
    )
    assert_loaded_match(loaded_tables(pipeline, TABLES), simulator, END, start=START)
