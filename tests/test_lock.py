"""One run at a time per pipeline: the lock, its error, and overlapping real processes."""

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
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline
from helpers import TOKEN, assert_loaded_match, forked, loaded_tables, utc
from helpers.forked import ForkedProcess

from coveo_ua_source import PipelineLockedError, coveo_ua_source, pipeline_lock
from coveo_ua_source.runs import lock as lock_module
from coveo_ua_source.runs.lock import lock_path
from coveo_ua_source.schema import TABLES
from coveo_ua_source.simulator import Simulator

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
        with pipeline_lock("another", tmp_path):
            pass

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


def test_a_bare_pipeline_run_is_refused_while_another_process_runs(
    simulator: Simulator,
    hold_in_process: Callable[[str], ForkedProcess],
    tmp_path: Path,
) -> None:
    """The source takes the lock in its extract step too: a safety net for pipeline.run."""
    hold_in_process("coveo_ua_bare")
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua_bare",
        destination=dlt.destinations.duckdb(str(tmp_path / "bare.duckdb")),
        dataset_name="coveo_ua",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    source = coveo_ua_source(
        access_token=TOKEN, base_url=simulator.api_root, start_date=START, end_date=END
    )
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(source)
    assert isinstance(failed.value.__cause__, PipelineLockedError) or "already running" in str(
        failed.value
    )
    assert simulator.created_count == 0, "nothing was exported"
    assert pipeline.state.get("sources", {}) == {}, "no state moved"


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


def read_errors(root: Path, labels: str) -> dict[str, str]:
    return {label: (root / f"{label}.err").read_text() for label in labels}


@pytest.mark.slow
def test_overlapping_cli_loads_one_runs_the_others_refuse_and_the_next_is_exact(
    simulator: Simulator, tmp_path: Path
) -> None:
    # The exports stay PENDING until released below, so the run holding the lock is
    # still working, whatever the machine's load, when the third run starts and is refused.
    simulator.inject("slow", count=10, seconds=600)
    together = [start_cli_load(simulator, tmp_path, label) for label in ("a", "b")]

    def ended() -> list[bool]:
        return [p.poll() is not None for p in together]

    wait_until(lambda: simulator.created_count > 0 or all(ended()), "the first export")
    wait_until(lambda: any(ended()), "the refused run")
    later = start_cli_load(simulator, tmp_path, "c")
    later.wait(timeout=120)
    assert ended().count(False) == 1, f"one run works on: {read_errors(tmp_path, 'abc')}"
    finish_slow_builds(simulator, together)
    codes = {label: p.wait(timeout=120) for label, p in zip("abc", [*together, later], strict=True)}
    errors = read_errors(tmp_path, "abc")
    assert sorted([codes["a"], codes["b"]]) == [0, 1], errors
    assert codes["c"] == 1, errors
    for label in "abc":
        if codes[label] == 1:
            assert "error: pipeline 'coveo_ua_overlap' is already running" in errors[label]
            assert "Traceback" not in errors[label]
    assert simulator.created_count == 2, "the refused runs created no export"

    final = start_cli_load(simulator, tmp_path, "d")
    assert final.wait(timeout=120) == 0, (tmp_path / "d.err").read_text()
    assert simulator.created_count == 2, "everything was loaded by the run that held the lock"
    pipeline = dlt.pipeline(
        pipeline_name="coveo_ua_overlap",
        destination=dlt.destinations.duckdb(str(tmp_path / "coveo_ua_overlap.duckdb")),
        dataset_name="coveo_ua",
        pipelines_dir=str(tmp_path / "check"),
    )
    assert_loaded_match(loaded_tables(pipeline, TABLES), simulator, END, start=START)
