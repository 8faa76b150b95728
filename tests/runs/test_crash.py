"""Crash safety: the loading process is killed (SIGKILL) at each stage, rerun, and checked.

Each test runs tests/crash_driver.py in a separate (forked) process against a simulator,
kills it while it polls, while it downloads, while it extracts, or just before dlt's load
step, reruns it to completion and then once more, and checks that:

- every table equals the simulator's ground truth (no duplicate rows, none missing);
- each window was exported exactly once: the rerun reattached to the exports the killed
  run had created (found in the service's export list by their description) instead of
  creating them again, also when it runs on a fresh pipelines folder;
- the run after the recovery deletes every export, and leaves no zip.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers.crash import (
    BUILDING,
    END,
    START,
    WAIT,
    WINDOWS,
    Driver,
    assert_loaded_like_ground_truth,
    hold_pending,
)

from coveo_ua_simulator import Simulator
from coveo_ua_source.exports.lifecycle import parse_description
from coveo_ua_source.schema import TABLES

pytestmark = pytest.mark.slow


@pytest.fixture
def make_driver(
    start_simulator: Callable[..., Simulator], tmp_path: Path
) -> Iterator[Callable[..., Driver]]:
    """A Driver on a new simulator (config overrides as arguments); kills what it started."""
    drivers: list[Driver] = []

    def make(**simulator_options: Any) -> Driver:
        drivers.append(Driver(start_simulator(**simulator_options), tmp_path))
        return drivers[-1]

    yield make
    for driver in drivers:
        driver.stop_all()


def windows_of(events: list[dict[str, Any]]) -> list[tuple[datetime, datetime]]:
    return sorted(
        (datetime.fromisoformat(e["start"]), datetime.fromisoformat(e["end"])) for e in events
    )


def exports_per_window(simulator: Simulator) -> Counter[tuple[datetime, datetime]]:
    return Counter((export.start, export.end) for export in simulator.exports.values())


def all_polled(driver: Driver) -> bool:
    """Whether every export created so far was polled, hence its create was answered."""
    return all(export.polls >= 1 for export in driver.simulator.exports.values())


def assert_one_export_per_window(driver: Driver) -> None:
    assert exports_per_window(driver.simulator) == dict.fromkeys(WINDOWS, 1), (
        "every window exported exactly once: the rerun reattached instead of creating"
    )


def assert_next_run_settles(driver: Driver) -> None:
    """The run after the recovery exports nothing, deletes every export and the zips."""
    created = set(driver.simulator.exports)
    summary = driver.finish()
    assert "extract" in summary["steps"]
    assert set(driver.simulator.exports) == created, "no export created"
    assert all(export.deleted for export in driver.simulator.exports.values())
    assert list(driver.workdir.glob("*.zip")) == []
    assert_loaded_like_ground_truth(driver)


def test_killed_while_polling(make_driver: Callable[..., Driver]) -> None:
    driver = make_driver()
    simulator = driver.simulator
    hold_pending(simulator)

    def created_and_polled() -> bool:
        exports = list(simulator.exports.values())
        return len(exports) == BUILDING and all(e.polls >= 1 for e in exports)

    driver.kill_when(driver.start(), created_and_polled)
    simulator.end_slow_builds()
    killed = {export_id: export.status for export_id, export in simulator.exports.items()}
    assert set(killed.values()) == {"PENDING"}
    described = [parse_description(e.description) for e in simulator.exports.values()]
    assert all(d is not None and d.tables == TABLES for d in described), (
        "each export says whose it is and what it holds, so a rerun can find it"
    )
    assert driver.finish()["steps"][0] == "extract"
    assert {e["export_id"] for e in driver.events(2, "reattached")} == set(killed)
    assert windows_of(driver.events(2, "created")) == WINDOWS[BUILDING:]
    assert_one_export_per_window(driver)
    assert_loaded_like_ground_truth(driver)
    assert_next_run_settles(driver)


def test_killed_while_downloading(make_driver: Callable[..., Driver]) -> None:
    driver = make_driver()
    simulator = driver.simulator
    simulator.inject("throttle", count=BUILDING, seconds=WAIT, server="storage")

    def downloading() -> bool:
        storage = [r for r in simulator.requests if r.server == "storage" and r.status == 200]
        return len(storage) == BUILDING

    driver.kill_when(driver.start(), downloading)
    killed = set(simulator.exports)
    assert {export.status for export in simulator.exports.values()} == {"AVAILABLE"}
    assert len(list(driver.workdir.glob("export-*.zip"))) == BUILDING, "partial downloads"
    simulator.clear_faults()
    driver.finish()
    assert {e["export_id"] for e in driver.events(2, "reattached")} == killed
    assert windows_of(driver.events(2, "created")) == WINDOWS[BUILDING:]
    assert all(e.download_requests == 2 for i, e in simulator.exports.items() if i in killed)
    assert_one_export_per_window(driver)
    assert_loaded_like_ground_truth(driver)
    assert_next_run_settles(driver)


def test_killed_before_the_load_step(make_driver: Callable[..., Driver]) -> None:
    """Extract committed the state and the package: the rerun loads it and stops there.

    A first run loaded the first window, so the destination exists. The killed run
    extracted the next two; dlt's run() then finishes the pending package and returns
    without extracting, so the data is complete after the first rerun, and only the
    second one extracts (nothing is left) and deletes the exports.
    """
    driver = make_driver()
    driver.finish("--end", WINDOWS[0][1].isoformat())
    marker = driver.root / "paused-before-load"
    options = ("--steps", "--pause-before-load", "--marker", str(marker))
    driver.kill_when(driver.start(*options), marker.exists)
    pending = json.loads(marker.read_text())["normalized"]
    assert len(pending) == 1
    pipeline = driver.pipeline()
    assert list(pipeline.list_normalized_load_packages()) == pending
    positions = pipeline.state["sources"]["coveo_ua"]["resources"]
    assert {positions[table]["last_end"] for table in TABLES} == {END.isoformat()}
    deleted = [(e.start, e.end) for e in driver.simulator.exports.values() if e.deleted]
    assert deleted == WINDOWS[:1], "the loaded first window's export only; the others are kept"

    first = driver.finish()
    assert first["pending"]["normalized"] == pending
    assert "extract" not in first["steps"], "the pending package is loaded, nothing extracted"
    assert first["loads"] == pending
    assert_loaded_like_ground_truth(driver)
    assert sum(export.deleted for export in driver.simulator.exports.values()) == 1
    assert_one_export_per_window(driver)
    assert_next_run_settles(driver)
    assert_one_export_per_window(driver)


def crash_before_the_first_load(driver: Driver) -> dict[str, Any]:
    """Kill the first run ever between normalize and load, then rerun it."""
    marker = driver.root / "paused-before-load"
    options = ("--steps", "--pause-before-load", "--marker", str(marker))
    driver.kill_when(driver.start(*options), marker.exists)
    assert len(driver.simulator.exports) == len(WINDOWS)
    return driver.finish()


def test_killed_before_the_first_load_step(make_driver: Callable[..., Driver]) -> None:
    """Before the first load the dataset does not exist, and dlt starts the pipeline over.

    dlt's run() syncs with the destination first; finding no dataset while the pipeline
    has data, it wipes the pipeline's working folder (``Pipeline._sync_destination``):
    the pending package and the state are dropped, and the rerun extracts everything
    again, reusing the killed run's exports. The rows still load exactly once.
    """
    driver = make_driver()
    rerun = crash_before_the_first_load(driver)
    assert len(rerun["pending"]["normalized"]) == 1, "pending when the rerun started"
    assert rerun["steps"][0] == "extract", "but dropped: everything was extracted again"
    assert rerun["loads"] != rerun["pending"]["normalized"]
    assert_one_export_per_window(driver)
    assert_loaded_like_ground_truth(driver)


def test_killed_in_the_middle_of_extract(make_driver: Callable[..., Driver]) -> None:
    """The first window's rows were read, but extract never committed: all are read again.

    Nothing of the killed run reaches dlt (no pending package, no state), so the rerun
    plans every window again and reattaches to every export the killed run had created,
    the one of the window it had already read included.
    """
    driver = make_driver()
    marker = driver.root / "paused-in-extract"
    options = ("--pause-after-windows", "1", "--marker", str(marker))
    driver.kill_when(driver.start(*options), lambda: marker.exists() and all_polled(driver))
    assert json.loads(marker.read_text())["windows_read"] == [START.isoformat()]
    killed = set(driver.simulator.exports)
    assert len(killed) >= BUILDING
    pipeline = driver.pipeline()
    assert list(pipeline.list_extracted_load_packages()) == []
    assert list(pipeline.list_normalized_load_packages()) == []
    assert "coveo_ua" not in pipeline.state.get("sources", {})

    summary = driver.finish()
    assert summary["pending"] == {"extracted": [], "normalized": []}
    assert summary["steps"][0] == "extract"
    assert {e["export_id"] for e in driver.events(2, "reattached")} == killed
    assert_one_export_per_window(driver)
    assert_loaded_like_ground_truth(driver)
    assert_next_run_settles(driver)


def test_killed_then_rerun_on_a_fresh_worker(make_driver: Callable[..., Driver]) -> None:
    """An orchestrator reruns the killed task on another worker: an empty pipelines folder.

    dlt restores the state from the destination (one window loaded), the rerun reattaches
    to the exports the killed run left in flight, and the run after it deletes them all.
    """
    driver = make_driver()
    driver.finish("--end", WINDOWS[0][1].isoformat())
    simulator = driver.simulator
    hold_pending(simulator)

    def created_and_polled() -> bool:
        exports = [e for e in simulator.exports.values() if e.start > START]
        return len(exports) == BUILDING and all(e.polls >= 1 for e in exports)

    driver.kill_when(driver.start(), created_and_polled)
    simulator.end_slow_builds()
    killed = {i for i, e in simulator.exports.items() if e.start > START}
    driver.folder = "fresh-worker"
    assert driver.finish()["steps"][0] == "extract"
    assert {e["export_id"] for e in driver.events(3, "reattached")} == killed
    assert windows_of(driver.events(3, "created")) == [], "nothing created again"
    assert_one_export_per_window(driver)
    assert_loaded_like_ground_truth(driver)
    driver.folder = "another-fresh-worker"
    assert_next_run_settles(driver)


def test_a_failed_run_shows_its_traceback(make_driver: Callable[..., Driver]) -> None:
    """The driver runs in a forked process: what it raises still lands in its stderr file,
    where the other tests' failure messages (``Driver.output()``) read it."""
    driver = make_driver()
    process = driver.start("--api-root", "http://127.0.0.1:9/not-coveo")  # the last one wins
    assert process.wait(timeout=WAIT) == 1
    output = driver.output()
    assert "Traceback" in output
    assert "ConfigurationError: base_url must be an absolute URL" in output
    assert driver.file("stdout").read_text() == "", "no summary: the run did not finish"
