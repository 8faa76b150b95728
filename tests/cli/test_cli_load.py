"""`coveo-ua load` and `plan`: honest summaries, where the data is, guarded backfills."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import dlt
import duckdb
import pytest
from helpers import TOKEN, expected_rows, utc
from helpers.open_database import database_kept_open
from helpers.pipelines import isolate_dlt_config
from rich.console import Console

from coveo_ua_simulator import Simulator
from coveo_ua_source import coveo_ua_source, plan_load
from coveo_ua_source.cli.main import main
from coveo_ua_source.cli.pipeline import location, where_rows, without_userinfo
from coveo_ua_source.cli.progress import LoadProgress, eta_text
from coveo_ua_source.dates import Window
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.exports.types import ProgressEvent
from coveo_ua_source.schema import TABLES
from coveo_ua_source.warehouse.bookkeeping import REJECTED_TABLE
from coveo_ua_source.warehouse.dimension_catalog import REJECTED_VALUES_TABLE

START, MIDDLE, END = utc(2024, 4, 1), utc(2024, 4, 2), utc(2024, 4, 3)
RANGE = ["--start-date", "2024-04-01", "--end-date", "2024-04-03"]
MALFORMED_LINES = 3


def table_row(output: str, table: str) -> list[str]:
    """The summary table's cells after the table's name: rows, rejected rows, NULL values."""
    rows = (line.replace("│", " ").split() for line in output.splitlines())
    return next(cells for cells in rows if cells[:1] == [table])[1:]


def summary_value(output: str, label: str) -> str:
    line = next(line for line in output.splitlines() if label in line)
    return line.split(label, 1)[1].strip(" │:")


@dataclass(frozen=True)
class CliLoads:
    """`coveo-ua load` of two days with malformed rows in both, then of a third, clean day
    (progress shown): their standard output, and the folder they ran in."""

    folder: Path
    simulator: Simulator
    first: str
    clean: str


def stdout_of(arguments: list[str]) -> str:
    with contextlib.redirect_stdout(StringIO()) as output:
        assert main(arguments) == 0
    return output.getvalue()


@pytest.fixture(scope="module")
def cli_loads(module_simulator: Simulator, tmp_path_factory: pytest.TempPathFactory) -> CliLoads:
    """Read only: the module's tests of a load's summary share these two loads."""
    folder = tmp_path_factory.mktemp("cli_load")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_dlt_config(monkeypatch, folder)
        monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("SOURCES__COVEO_UA__BASE_URL", module_simulator.api_root)
        monkeypatch.setenv("SOURCES__COVEO_UA__POLL_INTERVAL", "0.01")
        module_simulator.inject("malformed", count=2, lines=MALFORMED_LINES)
        load = ["load", *RANGE, "--duckdb-file", "here.duckdb", "--pipelines-dir", "state"]
        load += ["--pipeline-name", "where_test", "--dataset-name", "ua"]
        first = stdout_of([*load, "--no-progress"])  # not held open: this load creates the file
        with database_kept_open(folder / "here.duckdb"):  # helpers/open_database.py
            clean = stdout_of([*load, "--end-date", "2024-04-04"])
    return CliLoads(folder, module_simulator, first, clean)


@pytest.mark.xdist_group("cli_load_summaries")  # one worker loads it once
def test_rejected_count_is_the_malformed_rows(cli_loads: CliLoads) -> None:
    output = cli_loads.first
    assert "Loaded: 2 export(s), 10 table-window(s)" in output
    searches = len(expected_rows(cli_loads.simulator, "searches", START, END))
    loaded = table_row(output, "searches")[0]
    assert loaded == f"{searches:,}"
    rejected_rows = sum(int(table_row(output, table)[1]) for table in TABLES)
    assert rejected_rows == 2 * MALFORMED_LINES
    assert f"rejected rows: {2 * MALFORMED_LINES} " in output
    assert f"see ua.{REJECTED_TABLE}" in output
    output = cli_loads.clean  # a clean window: nothing rejected
    assert all(table_row(output, table)[1] == "0" for table in TABLES)
    assert "rejected rows:" not in output
    assert "Loaded: 1 export(s), 5 table-window(s)" in output


@pytest.mark.xdist_group("cli_load_summaries")
def test_values_loaded_as_null_are_counted_per_table_with_where_to_see_them(
    cli_loads: CliLoads,
) -> None:
    query = f"SELECT table_name, count(*) FROM ua.{REJECTED_VALUES_TABLE} GROUP BY 1"
    with duckdb.connect(str(cli_loads.folder / "here.duckdb"), read_only=True) as connection:
        held = dict(connection.sql(query).fetchall())
    shown = {table: int(table_row(cli_loads.clean, table)[2]) for table in TABLES}
    first = {table: int(table_row(cli_loads.first, table)[2]) for table in TABLES}
    assert sum(held.values()) == sum(first.values()) + sum(shown.values()) > 0
    assert f"see ua.{REJECTED_VALUES_TABLE}" in cli_loads.first


@pytest.mark.xdist_group("cli_load_summaries")
def test_piped_output_has_no_progress_frames(cli_loads: CliLoads) -> None:
    assert "━" not in cli_loads.clean, "the progress display is for terminals"
    assert "window 1 of 1" not in cli_loads.clean


@pytest.mark.xdist_group("cli_load_summaries")
def test_summary_ends_with_where_the_data_is(cli_loads: CliLoads) -> None:
    folder = cli_loads.folder
    tail = cli_loads.clean.strip().splitlines()[-5:]
    assert [line.split(":", 1)[0] for line in tail] == [
        "destination", "location", "dataset", "pipeline", "pipelines folder",
    ]  # fmt: skip
    assert tail[0].split()[-1] == "duckdb"
    assert tail[1].endswith(f"file {folder / 'here.duckdb'}")
    assert (folder / "here.duckdb").exists()
    assert tail[2].split()[-1] == "ua"
    assert tail[3].split()[-1] == "where_test"
    assert tail[4].endswith(str(folder / "state"))
    assert (folder / "state" / "where_test" / "state.json").exists()


def test_filesystem_load_has_no_marker_rows_and_no_views(
    connected: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lake = (tmp_path / "lake").as_uri()
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", lake)
    connected.inject("malformed", count=1, lines=MALFORMED_LINES)  # one of the two windows
    load = ["load", *RANGE, "--destination", "filesystem", "--pipelines-dir", "p"]
    assert main([*load, "--pipeline-name", "lake_test", "--no-progress"]) == 0
    output = capsys.readouterr().out
    assert "views: none (the filesystem destination keeps no SQL views)" in output
    assert "all_events" not in output
    assert summary_value(output, "location") == lake
    pipeline = dlt.attach("lake_test", pipelines_dir=str(tmp_path / "p"))
    rows = pipeline.dataset()[REJECTED_TABLE].df().to_dict("records")
    assert len(rows) == MALFORMED_LINES, "only the malformed rows, no marker row"
    assert len({row["window_start"] for row in rows}) == 1
    assert not any(row.get("_superseded") for row in rows)


def test_a_plain_lake_says_once_that_a_lookback_appends_again_and_dlt_stays_quiet(
    connected: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", (tmp_path / "lake").as_uri())
    load = ["load", "--destination", "filesystem", "--pipelines-dir", "p", "--no-progress"]
    load += ["--pipeline-name", "lake_lookback", "--lookback", "P1D", "--start-date", "2024-04-01"]
    assert main([*load, "--end-date", "2024-04-03"]) == 0
    first = capfd.readouterr().err + caplog.text
    caplog.clear()
    assert main([*load, "--end-date", "2024-04-04"]) == 0
    second = capfd.readouterr().err + caplog.text
    for output in (first, second):
        assert "Falling back to `append`" not in output
        assert "hard_delete" not in output
        assert "could not read the committed state" not in output
    assert "cannot replace" not in first, "nothing loaded before: nothing repeats"
    explained = [r for r in caplog.records if "cannot replace" in r.getMessage()]
    assert len(explained) == 1
    assert f"{len(TABLES)} table-window(s) loaded before" in explained[0].getMessage()


def test_verbose_prints_a_line_per_table_window_and_every_warning(
    connected: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    load = ["load", *RANGE, "--pipelines-dir", "p", "--no-progress"]

    def not_parsed() -> int:
        return sum("did not parse" in record.getMessage() for record in caplog.records)

    assert main([*load, "--pipeline-name", "quiet", "--duckdb-file", "q.duckdb"]) == 0
    quiet, told_once = capsys.readouterr().out, not_parsed()
    caplog.clear()
    assert main([*load, "--pipeline-name", "loud", "--duckdb-file", "l.duckdb", "-v"]) == 0
    verbose, told_all = capsys.readouterr().out, not_parsed()
    window_lines = [line for line in verbose.splitlines() if line.startswith("[2024-04-0")]
    assert len(window_lines) == 2 * len(TABLES)
    searches = len(expected_rows(connected, "searches", START, MIDDLE))
    assert f"[2024-04-01T00:00:00.000Z, 2024-04-02T00:00:00.000Z) searches: {searches:,} rows" in (
        verbose
    )
    assert not any(line.startswith("[2024-04-0") for line in quiet.splitlines())
    assert told_once == 0 < told_all, "the summary counts them; --verbose prints each"


def test_filesystem_gets_no_rejected_table_when_nothing_is_rejected(
    simulator: Simulator, tmp_path: Path
) -> None:
    pipeline = dlt.pipeline(
        pipeline_name="lake_clean",
        destination=dlt.destinations.filesystem((tmp_path / "lake").as_uri()),
        dataset_name="usage_analytics",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    source = coveo_ua_source(
        access_token=TOKEN, base_url=simulator.api_root, start_date=START, end_date=END,
        poll_interval=0.01, tables=["searches"],
    )  # fmt: skip
    pipeline.run(source).raise_on_failed_jobs()
    assert not list((tmp_path / "lake" / "usage_analytics").glob(f"{REJECTED_TABLE}/*"))


def test_a_minute_window_over_a_day_is_refused_before_any_request(
    connected: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    day = ["--start-date", "2024-04-01", "--end-date", "2024-04-02", "--window", "PT1M"]
    for command in ("load", "plan"):
        assert main([command, *day, "--pipelines-dir", "p"]) == 1
        error = capsys.readouterr().err
        assert "1,440 exports" in error
        assert "max_exports=500" in error
        assert "none was created" in error
    assert connected.requests == []
    with pytest.raises(ConfigurationError, match="2 exports, more than max_exports=1"):
        plan_load(TOKEN, base_url=connected.api_root, start_date=START, end_date=END,
                  max_exports=1)  # fmt: skip
    assert connected.requests == []


def test_max_exports_is_a_source_option(simulator: Simulator, make_pipeline) -> None:
    source = coveo_ua_source(
        access_token=TOKEN, base_url=simulator.api_root, start_date=START, end_date=END,
        max_exports=1,
    )  # fmt: skip
    with pytest.raises(Exception, match="more than max_exports=1"):
        make_pipeline("max_exports_test").run(source)
    assert simulator.created_count == 0


def test_plan_prints_totals_duration_and_its_progress(
    connected: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", *RANGE, "--tables", "searches,clicks", "--pipelines-dir", "p"]) == 0
    captured = capsys.readouterr()
    assert "estimating rows: window 1 of 2" in captured.err
    assert "estimating rows: window 2 of 2" in captured.err
    for table in ("searches", "clicks"):
        expected = len(expected_rows(connected, table, START, END))  # estimate_factor 1.0
        assert table_row(captured.out, table) == ["2", f"{expected:,}"], table
    assert "2 export(s) planned" in captured.out
    assert re.search(r"estimated duration: about \d+ min \(2 exports, 2 built at a time",
                     captured.out)  # fmt: skip
    assert connected.created_count == 0


@pytest.mark.parametrize(
    ("elapsed", "done", "total", "text"),
    [
        pytest.param(5.0, 0, 4, "ETA ?", id="nothing-done-yet"),
        pytest.param(10.0, 1, 3, "ETA 20s", id="seconds"),
        pytest.param(90.0, 1, 3, "ETA 3m 00s", id="minutes"),
        pytest.param(3600.0, 1, 4, "ETA 3h 00m", id="hours"),
        pytest.param(10.0, 2, 2, "done", id="done"),
    ],
)
def test_eta_text(elapsed: float, done: int, total: int, text: str) -> None:
    assert eta_text(elapsed, done, total) == text


def test_live_display_shows_window_k_of_n_and_an_eta() -> None:
    now = [100.0]
    first, second = Window(START, MIDDLE), Window(MIDDLE, END)
    console = Console(file=StringIO(), width=120)
    with LoadProgress(console, clock=lambda: now[0]) as display:
        display(ProgressEvent("planned", Window(START, END), None, {"exports": 2}))
        assert display.summary == "window 0 of 2, 0:00:00 elapsed, ETA ?"
        display(ProgressEvent("ready", first, "e1", {"tables": ("searches",)}))
        now[0] += 30.0
        display(ProgressEvent("rows", first, "e1", {"table": "searches", "rows": 5}))
        assert display.summary == "window 1 of 2, 0:00:30 elapsed, ETA 30s"
        display(ProgressEvent("split", second, "e2"))
        assert display.summary == "window 1 of 3, 0:00:30 elapsed, ETA 1m 00s"
    assert "window 1 of 3" in console.file.getvalue()  # type: ignore[attr-defined]


def test_bucket_urls_lose_their_keys() -> None:
    assert without_userinfo("s3://KEY:SECRET@bucket/path") == "s3://bucket/path"
    assert without_userinfo("file:///tmp/lake") == "file:///tmp/lake"


def test_a_server_location_is_host_and_database_without_the_password(tmp_path: Path) -> None:
    credentials = "postgresql://loader:s3cret-pw@db.example:5433/warehouse"
    pipeline = dlt.pipeline(
        pipeline_name="location_test",
        destination=dlt.destinations.postgres(credentials),
        dataset_name="ua",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    assert location(pipeline) == "host db.example:5433, database warehouse"
    assert "s3cret-pw" not in str(where_rows(pipeline))


def test_credentials_option_reaches_the_destination_and_is_never_echoed(
    connected: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "pw-never-shown"
    credentials = f"postgresql://loader:{secret}@127.0.0.1:9/warehouse"  # nothing listens
    load = ["load", *RANGE, "--destination", "postgres", "--credentials", credentials]
    assert main([*load, "--pipelines-dir", "p", "--no-progress"]) == 3
    captured = capsys.readouterr()
    assert "127.0.0.1" in captured.err, "the error is about the server the option named"
    assert secret not in captured.out + captured.err


def test_an_empty_table_list_is_refused_not_taken_for_every_table(
    connected: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["load", "--start-date", "2024-04-01", "--tables", "", "--pipelines-dir", "p"])
    assert code != 0
    assert "tables is empty" in capsys.readouterr().err
    assert connected.requests == [], "refused before any request"
