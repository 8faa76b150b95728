"""The export runner (exports/runner.py) with a stub client: create, poll, download, reuse,
split, cancel. No server, no dlt; the clock never really waits."""

from __future__ import annotations

import errno
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import utc, window_fails_with
from helpers.stub_client import (
    API_ROOT,
    HELD_SECONDS,
    HeldDownloads,
    StubClient,
    collected_without_waiting,
    export_info,
)

from coveo_ua_source.dates import Window
from coveo_ua_source.exceptions import (
    CoveoBadRequestError,
    DiskFullError,
    ExportFailedError,
    ExportFileError,
    ExportTimeoutError,
)
from coveo_ua_source.exports.lifecycle import ExportBook, ExportIdentity
from coveo_ua_source.exports.runner import ExportRunner
from coveo_ua_source.exports.types import ExportRequest, RunnerOptions
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.ingest.archive import table_members

DAY = Window(utc(2024, 3, 1), utc(2024, 3, 2))
NEXT = Window(utc(2024, 3, 2), utc(2024, 3, 3))
TABLES = ("searches", "clicks")
REQUEST = ExportRequest(filters=("country=='FR'",), export_format="NO_NEWLINE")
IDENTITY = ExportIdentity.of(API_ROOT, "", REQUEST)  # a runner's own, with no scope option


def days(count: int) -> list[Window]:
    step = timedelta(days=1)
    return [Window(DAY.start + step * n, DAY.end + step * n) for n in range(count)]


def plan_of(*windows: Window) -> list[PlannedExport]:
    return [PlannedExport(window, TABLES, {"searches": 7}) for window in windows]


def runner_for(
    client: StubClient, workdir: Path, waits: list[float] | None = None, **options: Any
) -> ExportRunner:
    settings = RunnerOptions(poll_interval=1.0, **options)
    sleep = (waits if waits is not None else []).append
    return ExportRunner(client, REQUEST, workdir, settings, sleep=sleep)  # type: ignore[arg-type]


def test_each_window_yields_a_readable_zip_in_plan_order(tmp_path: Path) -> None:
    client = StubClient(pending_polls=2)
    windows = days(5)
    ready = list(runner_for(client, tmp_path, max_concurrent=3).run(plan_of(*windows)))
    assert [export.window for export in ready] == windows
    assert sorted(created.window for created in client.created) == windows, "one per window"
    for export in ready:
        assert set(table_members(export.zip_path)) == set(TABLES)
        assert export.estimates == {"searches": 7}, "the sizing estimates travel with the zip"
        assert oct(export.zip_path.stat().st_mode & 0o777) == "0o600"


def test_each_export_has_the_runs_parameters_and_a_description_to_find_it_by(
    tmp_path: Path,
) -> None:
    client = StubClient()
    runner = runner_for(client, tmp_path)
    list(runner.run(plan_of(DAY)))
    [created] = client.created
    assert created.description == IDENTITY.describe(plan_of(DAY)[0])
    assert created.params["filters"] == ("country=='FR'",)
    assert created.params["export_format"] == "NO_NEWLINE"


def test_a_usable_export_of_an_earlier_run_is_reused_not_created(tmp_path: Path) -> None:
    left = export_info("left", IDENTITY.describe(plan_of(DAY)[0]), "PENDING", DAY, TABLES)
    client = StubClient([left])
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert [export.export_id for export in ready] == ["left"]
    assert client.created == []


def test_other_parameters_make_another_export(tmp_path: Path) -> None:
    other = ExportIdentity.of(API_ROOT, "", ExportRequest())
    left = export_info("left", other.describe(plan_of(DAY)[0]), "AVAILABLE", DAY, TABLES)
    client = StubClient([left])
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert [export.export_id for export in ready] == ["export-1"]


def test_a_reused_export_that_fails_is_not_reused_again(tmp_path: Path) -> None:
    left = export_info("left", IDENTITY.describe(plan_of(DAY)[0]), "PENDING", DAY, TABLES)
    client = StubClient([left])
    client.fault_of["left"] = "fail"
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert [export.window for export in ready] == [DAY], "created again, not split"
    assert [export.export_id for export in ready] == ["export-1"]


def test_an_export_deleted_by_another_run_while_it_is_built_is_created_again(
    tmp_path: Path,
) -> None:
    client = StubClient(pending_polls=1)
    client.inject("vanish")
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert [export.export_id for export in ready] == ["export-2"]
    assert [created.window for created in client.created] == [DAY, DAY], "not split"


def test_an_export_that_vanishes_every_time_fails_saying_so(tmp_path: Path) -> None:
    client = StubClient(pending_polls=1)
    client.inject("vanish", count=10)
    lost = "lost 4 times, the last time because export export-4 vanished while it was built"
    with window_fails_with(ExportFailedError, lost):
        list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert len(client.created) == 4, "created again EXPORT_VANISHED_RETRIES times"


def test_an_export_answered_for_another_window_is_never_used_for_this_one(
    tmp_path: Path,
) -> None:
    """The service answered a create with the export of another window (a lying service):
    its rows would be recorded as this window's. The window's export is created again."""
    client = StubClient()
    runner = runner_for(client, tmp_path, max_concurrent=1)
    [first] = list(runner.run(plan_of(DAY)))
    client.inject("answer_previous")
    [ready] = list(runner.sibling().run(plan_of(NEXT)))
    assert ready.window == NEXT
    assert ready.export_id != first.export_id, "the other window's export was not used"
    assert [created.window for created in client.created] == [DAY, NEXT]


def test_polling_doubles_its_interval_up_to_the_cap(tmp_path: Path) -> None:
    waits: list[float] = []
    list(runner_for(StubClient(pending_polls=12), tmp_path, waits).run(plan_of(DAY)))
    assert waits[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert len(waits) == 13
    assert max(waits) == 60.0, "never longer than POLL_MAX_INTERVAL"


def test_pending_too_long_times_out_naming_the_export_and_window(tmp_path: Path) -> None:
    waits: list[float] = []
    runner = runner_for(StubClient(pending_polls=-1), tmp_path, waits, max_wait=100.0)
    with window_fails_with(ExportTimeoutError, r"export-1 for \[2024-03-01T00:00:00.000Z"):
        list(runner.run(plan_of(DAY)))
    assert 100.0 <= sum(waits) < 200.0


def test_a_failed_export_is_created_again_once(tmp_path: Path) -> None:
    client = StubClient()
    client.inject("fail")
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert [export.window for export in ready] == [DAY]
    assert len(client.created) == 2


def test_twice_failed_window_is_split_in_halves(tmp_path: Path) -> None:
    client = StubClient()
    client.inject("fail", 2)
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert [export.window for export in ready] == list(DAY.halves())
    assert [created.window for created in client.created[2:]] == list(DAY.halves())


def test_row_limit_rejection_splits_at_once(tmp_path: Path) -> None:
    client = StubClient()
    client.inject("row_limit")
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert [export.window for export in ready] == list(DAY.halves())
    assert [created.window for created in client.created] == list(DAY.halves())


def test_another_bad_request_is_not_split_but_raised(tmp_path: Path) -> None:
    client = StubClient()

    def refuse(*_: Any, **__: Any) -> Any:
        raise CoveoBadRequestError(400, "POST", "/v15/exports", "unknown dimension c_x")

    client.create_export = refuse  # type: ignore[method-assign]
    with pytest.raises(CoveoBadRequestError, match="unknown dimension"):
        list(runner_for(client, tmp_path).run(plan_of(DAY)))


def test_failing_at_the_minimum_window_says_which_window_and_what_to_do(tmp_path: Path) -> None:
    client = StubClient()
    client.inject("fail", 100)
    runner = runner_for(client, tmp_path, min_window=timedelta(hours=12))
    with window_fails_with(ExportFailedError) as raised:
        list(runner.run(plan_of(DAY)))
    message = str(raised.value)
    assert "searches, clicks for [2024-03-01T00:00:00.000Z, 2024-03-01T12:00:00.000Z)" in message
    assert "retry later or narrow the filters" in message
    assert len(client.created) == 4, "two attempts at the day, two at its first half"


def test_an_export_that_expired_before_its_download_is_created_again(tmp_path: Path) -> None:
    client = StubClient()
    client.inject("expire")
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert [export.export_id for export in ready] == ["export-2"]
    assert set(table_members(ready[0].zip_path)) == set(TABLES)


def test_a_corrupt_download_is_fetched_again_without_a_new_export(tmp_path: Path) -> None:
    client = StubClient()
    client.inject("corrupt")
    ready = list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert set(table_members(ready[0].zip_path)) == set(TABLES)
    assert (len(client.created), client.downloads) == (1, 2)


def test_corrupt_twice_fails_clearly_and_leaves_no_file(tmp_path: Path) -> None:
    client = StubClient()

    def corrupt(export_id: str, destination: Path, **_: Any) -> int:
        return destination.write_bytes(b"not a zip")

    client.download_export = corrupt  # type: ignore[method-assign]
    with window_fails_with(ExportFileError, r"export-1 for .* downloaded twice"):
        list(runner_for(client, tmp_path).run(plan_of(DAY)))
    assert list(tmp_path.iterdir()) == []


def test_zips_left_by_a_killed_run_are_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / "export-abc.zip").write_bytes(b"half a download")
    (tmp_path / "notes.txt").write_text("not ours")
    ready = list(runner_for(StubClient(), tmp_path).run(plan_of(DAY)))
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [ready[0].zip_path.name, "notes.txt"]
    )


def test_closing_early_stops_the_exports_in_flight_and_removes_their_zips(
    tmp_path: Path,
) -> None:
    """Later windows wait on the runner's own stop event: closing must wake them at once."""
    left = export_info("first", IDENTITY.describe(plan_of(DAY)[0]), "AVAILABLE", DAY, TABLES)
    client = StubClient([left], pending_polls=-1)
    options = RunnerOptions(poll_interval=3600.0, max_concurrent=2)
    runner = ExportRunner(client, REQUEST, tmp_path, options)  # type: ignore[arg-type]
    stream = runner.run(plan_of(*days(4)))
    ready = next(stream)
    assert ready.export_id == "first"
    stream.close()
    runner.join()
    assert not [t for t in threading.enumerate() if t.name.startswith("coveo-export")]
    assert [path.name for path in tmp_path.iterdir()] == [ready.zip_path.name]
    assert len(client.created) <= 2, "no window after the closed ones is created"


def test_a_run_left_unread_is_collected_without_waiting_for_its_downloads(
    tmp_path: Path,
) -> None:
    """The garbage collector may finalize an abandoned run anywhere, also in one of its own
    threads or inside ``threading`` holding a lock that a wait needs: the run's clean-up
    must not wait there (it did, and a test run hung). The zips are still removed."""
    first, second = days(2)
    client = HeldDownloads(held_from=second.start)
    runner = runner_for(client, tmp_path, max_concurrent=2)
    stream = runner.run(plan_of(first, second))
    ready = next(stream)
    assert client.holding.wait(HELD_SECONDS), "the second window's download waits"
    dropped: list[Any] = [stream]
    del stream
    try:
        assert collected_without_waiting(dropped), "the clean-up waited for a held download"
    finally:
        client.release()
    runner.join()
    assert [path.name for path in tmp_path.iterdir()] == [ready.zip_path.name]


def test_the_book_is_shared_so_a_settled_export_is_not_reused(tmp_path: Path) -> None:
    left = export_info("left", IDENTITY.describe(plan_of(DAY)[0]), "AVAILABLE", DAY, TABLES)
    client = StubClient([left])
    book = ExportBook(client, IDENTITY)  # type: ignore[arg-type]
    runner = ExportRunner(client, REQUEST, tmp_path, book=book, sleep=lambda _: None)  # type: ignore[arg-type]
    assert book.settle({"searches": DAY.end, "clicks": DAY.end}) == ["left"]
    ready = list(runner.run(plan_of(DAY)))
    assert [export.export_id for export in ready] == ["export-1"]


def test_closing_early_removes_the_zips_downloaded_ahead(tmp_path: Path) -> None:
    runner = runner_for(StubClient(), tmp_path, max_concurrent=3)
    stream = runner.run(plan_of(*days(4)))
    first = next(stream)
    stream.close()
    runner.join()
    assert [path.name for path in tmp_path.iterdir()] == [first.zip_path.name]


class FullDisk(StubClient):
    def download_export(self, export_id: str, destination: Path, **_: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(destination))


def test_a_download_to_a_full_disk_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DiskFullError, match=f"no space left on the disk of {tmp_path} "):
        list(runner_for(FullDisk(), tmp_path).run(plan_of(DAY)))
    assert list(tmp_path.iterdir()) == [], "the partial zip is removed"
