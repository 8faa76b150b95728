"""The dataset's lease (runs/lease.py) on each backend: who gets it, who waits and what
they are told, and what happens when a holder dies or loses it. Racing whole runs is
test_races.py."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from helpers import forked
from helpers.postgres import drop_datasets, postgres_url

from coveo_ua_source.exceptions import ConfigurationError, DatasetBusyError
from coveo_ua_source.runs.lease import (
    LEASE_TABLE,
    AdvisoryLease,
    FileLease,
    Holder,
    TableLease,
    acquire,
    lease_for,
)

ME = Holder("coveo_ua", "worker-1", 101, "2024-03-01T00:00:00+00:00")
OTHER = Holder("coveo_ua_partition", "worker-2", 202, "2024-03-01T00:01:00+00:00")


class FakeClock:
    """monotonic() and sleep() that move only when slept: waiting costs no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_file_lease_is_held_by_one_open_file_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb.coveo_ua.lock"
    mine, theirs = FileLease(path, "dataset 'x'", ME), FileLease(path, "dataset 'x'", OTHER)
    assert mine.try_acquire()
    assert not theirs.try_acquire(), "a second open file of this process is refused too"
    assert theirs.holder() == str(ME)
    mine.release()
    assert theirs.try_acquire()
    theirs.release()


def test_a_file_lease_in_a_missing_folder_says_so(tmp_path: Path) -> None:
    lease = FileLease(tmp_path / "missing" / "x.lock", "dataset 'x' in duckdb", ME)
    with pytest.raises(ConfigurationError, match=r"the folder .*missing does not exist"):
        lease.try_acquire()


def test_waiting_gives_up_after_the_timeout_naming_the_holder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="coveo_ua_source.runs.lease")
    path = tmp_path / "x.lock"
    holder = FileLease(path, "dataset 'x'", OTHER)
    assert holder.try_acquire()
    clock = FakeClock()
    waiting = FileLease(path, "dataset 'x' in duckdb", ME)
    with pytest.raises(DatasetBusyError) as busy:
        acquire(waiting, 150.0, sleep=clock.sleep, monotonic=clock.monotonic)
    message = str(busy.value)
    assert "dataset 'x' in duckdb is being loaded by pipeline 'coveo_ua_partition'" in message
    assert "pid 202 on worker-2" in message
    assert "lease_timeout=150 s" in message
    assert "changed nothing" in message
    assert 150 <= clock.now < 152, "it waited the whole timeout, not longer"
    assert max(clock.slept) <= 2.0, "and looked again at least every 2 s"
    said = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert len(said) == 3, "what it waits for is said at once, then every minute"
    holder.release()


def test_waiting_ends_when_the_holder_is_done(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = FileLease(path, "dataset 'x'", OTHER)
    assert holder.try_acquire()
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now > 5:
            holder.release()

    waiting = FileLease(path, "x", ME)
    waited = acquire(waiting, 60.0, sleep=sleep, monotonic=clock.monotonic)
    waiting.release()
    assert 5 < waited < 8


def test_a_lease_is_chosen_by_destination(tmp_path: Path) -> None:
    def pipeline(destination: Any) -> Any:
        return dlt.pipeline(
            pipeline_name="lease_kinds",
            destination=destination,
            dataset_name="coveo_ua",
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    duck = pipeline(dlt.destinations.duckdb(str(tmp_path / "w.duckdb")))
    lease = lease_for(duck, "auto", ME)
    assert isinstance(lease, FileLease)
    assert lease.path == tmp_path / "w.duckdb.coveo_ua.lock"
    assert isinstance(lease_for(duck, "table", ME), TableLease)
    assert lease_for(duck, "off", ME) is None
    lake = pipeline(dlt.destinations.filesystem(str(tmp_path / "lake")))
    lake_lease = lease_for(lake, "auto", ME)
    assert isinstance(lake_lease, FileLease)
    assert lake_lease.path == tmp_path / "lake" / ".coveo_ua.coveo_ua.lock"
    with pytest.raises(ConfigurationError, match="coordination='sometimes'"):
        lease_for(duck, "sometimes", ME)


# PostgreSQL: the advisory lock and the lease table, with real sessions.


@pytest.fixture
def pg_pipelines(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Pipelines on one fresh PostgreSQL dataset; the dataset is dropped afterwards."""
    url = postgres_url()
    dataset = f"lease_{uuid.uuid4().hex[:8]}"
    made: list[Any] = []

    def make(name: str) -> Any:
        made.append(
            dlt.pipeline(
                pipeline_name=name,
                destination=dlt.destinations.postgres(url),
                dataset_name=dataset,
                pipelines_dir=str(tmp_path / name),
            )
        )
        return made[-1]

    yield make
    with made[0].sql_client() as client:
        if client.has_dataset():
            client.drop_dataset()
    drop_datasets(made[0])


def test_an_advisory_lease_is_one_sessions_and_names_its_holder(
    pg_pipelines: Callable[[str], Any],
) -> None:
    mine = AdvisoryLease(pg_pipelines("coveo_ua"), ME)
    theirs = AdvisoryLease(pg_pipelines("coveo_ua_partition"), OTHER)
    try:
        assert mine.try_acquire()
        assert not theirs.try_acquire()
        named = theirs.holder()
        assert named.startswith("pipeline 'coveo_ua' (pid 101 on worker-1, since "), named
        mine.release()
        assert theirs.try_acquire()
    finally:
        mine.release()
        theirs.release()


def test_an_advisory_lease_of_a_killed_process_is_free_at_once(
    pg_pipelines: Callable[[str], Any], tmp_path: Path
) -> None:
    pipeline = pg_pipelines("coveo_ua")
    out = tmp_path / "holder.out"
    holder = forked.start(
        "helpers.targets:hold_dataset_turn",
        ["postgres", pipeline.dataset_name],
        environment={**os.environ, "DESTINATION__POSTGRES__CREDENTIALS": postgres_url()},
        cwd=tmp_path, stdout=out, stderr=tmp_path / "holder.err",
    )  # fmt: skip
    assert holder.wait_for(lambda: out.exists() and out.read_text() == "held\n", 60, "holder")
    waiting = AdvisoryLease(pipeline, ME)
    try:
        assert not waiting.try_acquire()
        assert "pipeline 'turn_holder'" in waiting.holder()
        holder.kill()
        holder.wait(timeout=10)
        assert acquire(waiting, 30.0) < 30, "the server ended the dead session's lock"
    finally:
        holder.kill()
        waiting.release()


def test_a_lease_row_is_taken_by_compare_and_set_and_given_back(
    pg_pipelines: Callable[[str], Any],
) -> None:
    mine = TableLease(pg_pipelines("coveo_ua"), ME)
    theirs = TableLease(pg_pipelines("coveo_ua_partition"), OTHER)
    try:
        assert mine.try_acquire(), "the first run creates the lease table and takes the row"
        assert not theirs.try_acquire()
        assert theirs.holder() == str(ME)
        mine.release()
        assert theirs.try_acquire()
        assert not mine.lost()
    finally:
        mine.release()
        theirs.release()


def test_a_lease_row_whose_heartbeat_stopped_is_taken_over(
    pg_pipelines: Callable[[str], Any], caplog: pytest.LogCaptureFixture
) -> None:
    dead = TableLease(pg_pipelines("coveo_ua"), OTHER, ttl=1.0)
    waiting = TableLease(pg_pipelines("coveo_ua_partition"), ME, ttl=1.0)
    try:
        assert dead.try_acquire()
        assert dead._heartbeat is not None
        dead._heartbeat.stop()  # as if its process froze: no release, no heartbeat
        assert not waiting.try_acquire(), "a fresh heartbeat keeps the lease"
        assert acquire(waiting, 10.0) >= 0.5, "taken once the heartbeat is older than the TTL"
        assert "took over" in caplog.text
    finally:
        waiting.release()
        dead.release()


def test_a_holder_whose_row_was_taken_over_knows_it(pg_pipelines: Callable[[str], Any]) -> None:
    pipeline = pg_pipelines("coveo_ua")
    holder = TableLease(pipeline, ME, ttl=1.0)  # a heartbeat every 0.25 s
    try:
        assert holder.try_acquire()
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name(LEASE_TABLE)
            client.execute_sql(f"UPDATE {table} SET token = 'someone-else'")
        deadline = time.monotonic() + 10
        while not holder.lost():
            assert time.monotonic() < deadline, "the heartbeat noticed the takeover"
            time.sleep(0.05)
    finally:
        holder.release()
