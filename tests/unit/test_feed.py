"""The feed of one extract (exports/feed.py): which exports each table resource gets, when
zips and exports go away, the bookkeeping queue. A stub client, no dlt pipeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers import utc
from helpers.stub_client import (
    API_ROOT,
    HELD_SECONDS,
    HeldDownloads,
    StubClient,
    collected_without_waiting,
    export_info,
)

from coveo_ua_source.dates import Window
from coveo_ua_source.exports.feed import ExportFeed, FeedPerExtract, FeedRun
from coveo_ua_source.exports.lifecycle import ExportIdentity
from coveo_ua_source.exports.runner import ExportRunner
from coveo_ua_source.exports.types import ExportRequest, ReadyExport
from coveo_ua_source.exports.windows import PlannedExport

DAY = Window(utc(2024, 3, 1), utc(2024, 3, 2))
NEXT = Window(utc(2024, 3, 2), utc(2024, 3, 3))
PLAN = [PlannedExport(DAY, ("searches", "clicks")), PlannedExport(NEXT, ("searches",))]
READERS = frozenset({"searches", "clicks"})
LOADED: dict[str, datetime | None] = {"searches": DAY.start, "clicks": DAY.start}


class Fixture:
    """A feed over PLAN with a stub client; counts plans and closes."""

    def __init__(self, tmp_path: Path, client: StubClient | None = None, **run: Any) -> None:
        self.client = client or StubClient()
        self.runner = ExportRunner(
            self.client,  # type: ignore[arg-type]
            ExportRequest(),
            tmp_path,
            sleep=lambda _: None,
        )
        self.plans = 0
        self.closes = 0
        self.options: dict[str, Any] = {"positions": LOADED, **run}
        self.feed = ExportFeed(self.make_run)

    def make_run(self) -> FeedRun:
        self.plans += 1
        stream = self.runner.run(PLAN)
        return FeedRun(PLAN, stream, self.runner, READERS, on_close=self.closed, **self.options)

    def closed(self) -> None:
        self.closes += 1


def windows(exports: list[ReadyExport]) -> list[Window]:
    return [ready.window for ready in exports]


def test_each_table_gets_the_exports_that_carry_it_in_window_order(tmp_path: Path) -> None:
    fixture = Fixture(tmp_path)
    assert windows(list(fixture.feed.exports_for("clicks"))) == [DAY]
    assert windows(list(fixture.feed.exports_for("searches"))) == [DAY, NEXT]
    assert len(fixture.client.created) == 2, "one export for both tables of the first day"


def test_a_zip_is_removed_once_every_table_it_carries_has_read_it(tmp_path: Path) -> None:
    fixture = Fixture(tmp_path)
    searches = fixture.feed.exports_for("searches")
    day = next(searches)
    assert windows(list(fixture.feed.exports_for("clicks"))) == [DAY]
    assert day.zip_path.exists(), "searches has not finished reading it"
    following = next(searches)  # searches moves on: done with the first day
    assert not day.zip_path.exists()
    assert following.window == NEXT
    assert list(searches) == []
    assert list(tmp_path.iterdir()) == []


def test_the_plan_is_made_on_the_first_step_and_only_once(tmp_path: Path) -> None:
    fixture = Fixture(tmp_path)
    clicks = fixture.feed.exports_for("clicks")
    assert fixture.plans == 0, "dlt's selection and state are not known before extract"
    assert fixture.feed.dispositions() is None
    next(clicks)
    list(fixture.feed.exports_for("searches"))
    list(clicks)
    assert fixture.plans == 1


def test_the_dispositions_are_the_runs(tmp_path: Path) -> None:
    dispositions = {"searches": "append", "clicks": "merge"}
    fixture = Fixture(tmp_path, dispositions=dispositions)
    next(fixture.feed.exports_for("searches"))
    assert fixture.feed.dispositions() == dispositions


def loaded_export(identity_of: Callable[[], ExportIdentity]) -> StubClient:
    """An export of an earlier run whose rows dlt state shows loaded (up to DAY.start)."""
    old = PlannedExport(Window(utc(2024, 2, 29), DAY.start), ("searches", "clicks"))
    return StubClient([export_info("used", identity_of().describe(old))])


def runner_identity() -> ExportIdentity:
    return ExportIdentity.of(API_ROOT, "", ExportRequest())


def test_exports_of_earlier_runs_that_are_loaded_are_deleted_when_the_run_starts(
    tmp_path: Path,
) -> None:
    fixture = Fixture(tmp_path, loaded_export(runner_identity))
    next(fixture.feed.exports_for("searches"))
    assert fixture.client.deleted == ["used"]
    assert "used" not in fixture.runner.touched, "a loaded window's export is not reused"


def test_keep_exports_deletes_nothing(tmp_path: Path) -> None:
    fixture = Fixture(tmp_path, loaded_export(runner_identity), keep_exports=True)
    list(fixture.feed.exports_for("clicks"))
    list(fixture.feed.exports_for("searches"))
    assert fixture.client.deleted == []


def test_in_partition_mode_each_export_is_deleted_once_every_table_read_it(
    tmp_path: Path,
) -> None:
    fixture = Fixture(tmp_path, loaded_export(runner_identity), positions=None)
    searches = fixture.feed.exports_for("searches")
    next(searches)
    assert fixture.client.deleted == [], "no state says what earlier runs loaded"
    list(fixture.feed.exports_for("clicks"))
    assert fixture.client.deleted == []
    list(searches)
    assert fixture.client.deleted == ["export-1", "export-2"]


def test_closes_once_when_every_reader_is_done_and_never_starts_again(tmp_path: Path) -> None:
    fixture = Fixture(tmp_path)
    records = fixture.feed.records()
    list(fixture.feed.exports_for("searches"))
    fixture.feed.record({"row": 1})
    fixture.feed.record({"row": 2})
    queued = [{"row": 1}, {"row": 2}]
    assert [next(records), next(records)] == [queued, None], "None: clicks still reads"
    assert fixture.closes == 0
    list(fixture.feed.exports_for("clicks"))
    assert fixture.closes == 1
    assert list(records) == [], "the bookkeeping resource ends with the feed"
    assert list(fixture.feed.exports_for("searches")) == []
    assert (fixture.plans, len(fixture.client.created)) == (1, 2)


def test_a_feed_closed_before_it_started_never_plans_nor_exports(tmp_path: Path) -> None:
    fixture = Fixture(tmp_path)
    fixture.feed.close()
    assert list(fixture.feed.exports_for("searches")) == []
    assert (fixture.plans, fixture.client.created) == (0, [])


def test_a_failed_reader_leaves_no_zip_behind(tmp_path: Path) -> None:
    """dlt closes a resource's generator when it raises; the other reader never ran."""
    fixture = Fixture(tmp_path)
    searches = fixture.feed.exports_for("searches")
    day = next(searches)
    searches.close()
    list(fixture.feed.exports_for("clicks"))
    assert fixture.closes == 1
    assert not day.zip_path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_feed_left_unread_is_collected_without_waiting_for_its_downloads(
    tmp_path: Path,
) -> None:
    """Both readers abandoned mid-way, freed by the garbage collector (as a dlt source left
    half-iterated is): the feed closes without waiting for the download in flight, then
    that download's zip is removed when it ends, and every other zip at once."""
    client = HeldDownloads(held_from=NEXT.start)
    runner = ExportRunner(client, ExportRequest(), tmp_path, sleep=lambda _: None)  # type: ignore[arg-type]
    closes: list[str] = []

    def run() -> FeedRun:
        stream = runner.run(PLAN)
        return FeedRun(
            PLAN, stream, runner, READERS, LOADED, on_close=lambda: closes.append("closed")
        )

    feed = ExportFeed(run)
    readers = (feed.exports_for("searches"), feed.exports_for("clicks"))
    day, _ = (next(reader) for reader in readers)
    assert client.holding.wait(HELD_SECONDS), "the next window's download waits"
    dropped: list[Any] = [readers]
    del feed, readers
    try:
        assert collected_without_waiting(dropped), "the clean-up waited for a held download"
        assert closes == ["closed"], "the run's guard is released"
        assert not day.zip_path.exists(), "a zip that was handed out is removed at once"
    finally:
        client.release()
    runner.join()
    assert list(tmp_path.iterdir()) == []


def test_a_new_extract_gets_a_new_feed() -> None:
    extract = ["load-1"]
    feeds = FeedPerExtract(lambda: None, lambda: extract[0])  # type: ignore[arg-type, return-value]
    first = feeds.current()
    assert feeds.current() is first
    extract[0] = "load-2"
    assert feeds.current() is not first
