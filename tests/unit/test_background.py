"""Work on a thread of its own: its result, its error, cancelling it, and the slots."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from coveo_ua_source.ingest.background import Background, Cancelled, work_slots


def test_the_result_of_the_work() -> None:
    job = Background(lambda check: 42, work_slots(1))
    assert job.wait(5)
    assert job.result() == 42


def test_the_work_s_error_is_raised_to_who_asks_for_the_result() -> None:
    def failing(check: Callable[[], None]) -> int:
        raise ValueError("corrupt zip")

    job = Background(failing, work_slots(1))
    with pytest.raises(ValueError, match="corrupt zip"):
        job.result()


def test_cancel_stops_the_work_at_its_next_check() -> None:
    steps: list[int] = []

    def endless(check: Callable[[], None]) -> None:
        while True:
            check()
            steps.append(1)
            time.sleep(0.001)

    job = Background(endless, work_slots(1))
    while not steps:
        time.sleep(0.001)
    job.cancel()
    assert job.wait(0)
    done = len(steps)
    time.sleep(0.02)
    assert len(steps) == done
    with pytest.raises(Cancelled):
        job.result()


def test_no_more_work_runs_at_once_than_the_slots() -> None:
    slots = work_slots(2)
    running, most = 0, 0
    lock = threading.Lock()

    def work(check: Callable[[], None]) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    jobs = [Background(work, slots) for _ in range(5)]
    for job in jobs:
        job.result()
    assert most == 2


def test_work_cancelled_while_it_waits_for_a_slot_never_runs() -> None:
    slots = work_slots(1)
    release = threading.Event()
    started: list[str] = []

    def holder(check: Callable[[], None]) -> None:
        release.wait(5)

    def waiting(check: Callable[[], None]) -> None:
        started.append("ran")

    first = Background(holder, slots)
    second = Background(waiting, slots)
    canceller = threading.Thread(target=second.cancel)
    canceller.start()
    time.sleep(0.02)
    release.set()
    canceller.join(5)
    first.result()
    assert started == []
    with pytest.raises(Cancelled):
        second.result()
