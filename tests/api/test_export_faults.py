"""The export lifecycle against the simulator's fault injection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from helpers import TOKEN, utc, window_fails_with

from coveo_ua_simulator import Simulator
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.dates import Window
from coveo_ua_source.exceptions import ExportFailedError, ExportFileError, ExportTimeoutError
from coveo_ua_source.exports.runner import ExportRunner
from coveo_ua_source.exports.types import ExportRequest, RunnerOptions
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.ingest.archive import table_members

DAY = Window(utc(2024, 3, 1), utc(2024, 3, 2))
TABLES = ("searches", "clicks")


def runner_for(
    simulator: Simulator, workdir: Path, sleep: Callable[[float], None] | None = None, **options
) -> ExportRunner:
    client = CoveoClient(TOKEN, base_url=simulator.api_root, sleep=lambda _: None)
    settings = RunnerOptions(poll_interval=0.01, **options)
    return ExportRunner(client, ExportRequest(), workdir, settings, sleep=sleep)


def plan_of(*windows: Window) -> list[PlannedExport]:
    return [PlannedExport(window, TABLES) for window in windows]


def days(count: int) -> list[Window]:
    return [
        Window(DAY.start + timedelta(days=i), DAY.end + timedelta(days=i)) for i in range(count)
    ]


def test_each_window_yields_a_readable_zip_in_order(simulator: Simulator, tmp_path: Path) -> None:
    windows = days(4)
    ready = list(runner_for(simulator, tmp_path).run(plan_of(*windows)))
    assert [r.window for r in ready] == windows
    assert simulator.created_count == 4
    for export in ready:
        assert set(table_members(export.zip_path)) == set(TABLES)
        assert export.zip_path.parent == tmp_path
        assert oct(export.zip_path.stat().st_mode & 0o777) == "0o600"


def test_failed_export_is_created_again_once(simulator: Simulator, tmp_path: Path) -> None:
    simulator.inject("fail", count=1)
    ready = list(runner_for(simulator, tmp_path).run(plan_of(DAY)))
    assert [r.window for r in ready] == [DAY]
    assert simulator.created_count == 2


def test_twice_failed_export_is_split_in_halves(simulator: Simulator, tmp_path: Path) -> None:
    simulator.inject("fail", count=2)
    ready = list(runner_for(simulator, tmp_path).run(plan_of(DAY)))
    assert [r.window for r in ready] == list(DAY.halves())
    assert simulator.created_count == 4


def test_failing_at_minimum_window_gives_a_clear_error(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.inject("fail", count=100)
    runner = runner_for(simulator, tmp_path, min_window=timedelta(hours=12))
    with window_fails_with(
        ExportFailedError, r"searches, clicks for \[2024-03-01T00:00:00.000Z, 2024-03-01T12"
    ):
        list(runner.run(plan_of(DAY)))


def test_row_limit_rejection_splits_the_window(simulator: Simulator, tmp_path: Path) -> None:
    simulator.inject("row_limit", count=1)
    ready = list(runner_for(simulator, tmp_path).run(plan_of(DAY)))
    assert [r.window for r in ready] == list(DAY.halves())


def test_expired_before_download_is_created_again(simulator: Simulator, tmp_path: Path) -> None:
    simulator.inject("expire", count=1)
    ready = list(runner_for(simulator, tmp_path).run(plan_of(DAY)))
    assert [r.window for r in ready] == [DAY]
    assert simulator.created_count == 2
    assert set(table_members(ready[0].zip_path)) == set(TABLES)


def test_corrupt_download_is_fetched_again(simulator: Simulator, tmp_path: Path) -> None:
    simulator.inject("corrupt_zip", count=1)
    ready = list(runner_for(simulator, tmp_path).run(plan_of(DAY)))
    assert set(table_members(ready[0].zip_path)) == set(TABLES)
    assert simulator.created_count == 1


def test_corrupt_twice_fails_clearly_and_leaves_no_file(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.inject("corrupt_zip", count=2)
    with window_fails_with(ExportFileError, "downloaded twice"):
        list(runner_for(simulator, tmp_path).run(plan_of(DAY)))
    assert list(tmp_path.iterdir()) == []


def test_pending_too_long_times_out_naming_export_and_window(
    start_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    simulator = start_simulator(pending_polls=1000)
    waits: list[float] = []
    runner = runner_for(simulator, tmp_path, sleep=waits.append, max_wait=100.0)
    with window_fails_with(ExportTimeoutError) as raised:
        list(runner.run(plan_of(DAY)))
    export_id = next(iter(simulator.exports))
    assert export_id in str(raised.value)
    assert "[2024-03-01T00:00:00.000Z, 2024-03-02T00:00:00.000Z)" in str(raised.value)
    assert waits[:4] == [0.01, 0.02, 0.04, 0.08], "the poll interval doubles"
    assert sum(waits) >= 100.0


def test_closing_early_removes_downloaded_files(simulator: Simulator, tmp_path: Path) -> None:
    runner = runner_for(simulator, tmp_path, max_concurrent=3)
    stream = runner.run(plan_of(*days(4)))
    first = next(stream)
    first.zip_path.unlink()
    stream.close()
    runner.join()
    assert list(tmp_path.iterdir()) == []


def test_concurrent_exports_are_built_ahead(
    start_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    simulator = start_simulator(build_delay=0.1)  # the first export is not ready at once
    stream = runner_for(simulator, tmp_path, max_concurrent=3).run(plan_of(*days(5)))
    first = next(stream)
    assert first.window == days(5)[0]
    assert simulator.created_count >= 3, "later windows are created before the first is used"
    rest = list(stream)
    assert [r.window for r in rest] == days(5)[1:]
