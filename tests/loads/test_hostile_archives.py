"""Odd and hostile archives end to end: refused before anything is committed, or loaded exactly.

The simulator's "rewrite" fault changes one download's copy of an export zip (see
``simulator/hostile.py``); the next download of the same export is clean, so a rerun shows
that nothing was poisoned. Loaded rows are compared with the simulator's ground truth.
The archives that load (with repairs or rejected rows) are one run of five days for the
module, a day per rewrite; the refused ones need a failed run each.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline
from helpers import (
    START,
    assert_rows_equal,
    assert_tables_match,
    duckdb_path,
    expected_rows,
    loaded_tables,
    make_source,
    rejected_rows,
)

from coveo_ua_simulator import Simulator, write_export_zip
from coveo_ua_simulator.dimensions import sim_columns
from coveo_ua_simulator.hostile import rewrite_zip
from coveo_ua_source.exceptions import ExportFileError
from coveo_ua_source.schema import TABLES, TTable
from coveo_ua_source.settings import ROW_KEEP_BYTES


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _zips_left(pipeline: Pipeline) -> list[Path]:
    return sorted((Path(pipeline.working_dir) / "coveo_ua_exports").glob("*.zip"))


def _data_tables(pipeline: Pipeline) -> set[str]:
    with duckdb.connect(duckdb_path(pipeline)) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            [pipeline.dataset_name],
        ).fetchall()
    return {row[0] for row in rows} & set(TABLES)


def _fails_with_file_error(pipeline: Pipeline, source: Any) -> ExportFileError:
    with pytest.raises(PipelineStepFailed) as raised:
        pipeline.run(source)
    assert raised.value.step == "extract", "refused while extracting: nothing is committed"
    errors = [e for e in _chain(raised.value) if isinstance(e, ExportFileError)]
    assert errors, _chain(raised.value)
    return errors[0]


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        pytest.param(
            "duplicate_header",
            {},
            # the rewrite replaces the last header cell with the identifier
            "headers 'searchId' (column 1) and 'searchId' "
            f"(column {len(sim_columns('searches'))}) both become column 'search_id'",
            id="repeated-header",
        ),
        pytest.param(
            "drop_member", {}, "the zip has no searches file although the service estimated",
            id="missing-member",
        ),
    ],
)  # fmt: skip
def test_a_refused_archive_commits_nothing_and_the_rerun_loads_exactly(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    change: str,
    options: dict[str, Any],
    message: str,
) -> None:
    simulator.inject("rewrite", change=change, **options)
    pipeline = make_pipeline("hostile_refused")
    error = _fails_with_file_error(pipeline, make_source(simulator))
    text = str(error)
    assert message in text
    assert "table searches" in text
    assert any(f"export {export_id} " in text for export_id in simulator.exports), text
    assert _data_tables(pipeline) == set(), "no table of the failed run was committed"
    assert _zips_left(pipeline) == [], "downloaded zips are removed when the run fails"

    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)


def test_differing_duplicate_members_are_refused_then_the_rerun_loads_exactly(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    simulator.inject("rewrite", count=2, change="duplicate_member", differ=True)
    pipeline = make_pipeline("hostile_members")
    one_at_a_time = make_source(simulator, max_concurrent_exports=1)  # the first window's two
    error = _fails_with_file_error(pipeline, one_at_a_time)
    assert "downloaded twice" in str(error)
    assert "members 'searches.csv' and 'searches.csv'" in str(error)
    assert "different contents" in str(error)
    assert _data_tables(pipeline) == set()
    assert _zips_left(pipeline) == []
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)


# One run loads a day per change, one export at a time, so that the k-th download (day k)
# gets the k-th rewrite; each test reads its own day, and a failure names the change.
REWRITES = ("duplicate_member", "backslash_names", "dlt_columns", "long_row", "invalid_utf8")
DAY = timedelta(days=1)


def day_of(change: str) -> tuple[datetime, datetime]:
    start = START + DAY * REWRITES.index(change)
    return start, start + DAY


@dataclass(frozen=True)
class Rewritten:
    """Five days loaded, each day's download rewritten with one change."""

    simulator: Simulator
    pipeline: Pipeline
    tables: dict[TTable, list[dict[str, Any]]]
    rejected: list[dict[str, Any]]

    def day_rows(self, table: TTable, change: str) -> list[dict[str, Any]]:
        start, end = day_of(change)
        return [row for row in self.tables[table] if start <= row["datetime"] < end]

    def day_rejected(self, change: str) -> list[dict[str, Any]]:
        return [row for row in self.rejected if row["window_start"] == day_of(change)[0]]


@pytest.fixture(scope="module")
def rewritten(module_simulator: Simulator, module_pipelines: Callable[..., Pipeline]) -> Rewritten:
    """Read only: one run for the module's tests of archives that load (five runs before)."""
    simulator, pipeline = module_simulator, module_pipelines("hostile_rewritten")
    for change in REWRITES:
        options = {"bytes": 17 << 20} if change == "long_row" else {}
        simulator.inject("rewrite", change=change, **options)
    end = START + DAY * len(REWRITES)
    source = make_source(simulator, end_date=end, max_concurrent_exports=1)
    pipeline.run(source).raise_on_failed_jobs()
    tables = loaded_tables(pipeline, TABLES)
    return Rewritten(simulator, pipeline, tables, rejected_rows(pipeline))


def assert_day_matches(rewritten: Rewritten, change: str) -> None:
    """Every table's rows of the change's day equal the ground truth."""
    for table in TABLES:
        expected = expected_rows(rewritten.simulator, table, *day_of(change))
        assert expected, f"the simulator produced no {table} rows; the test proves nothing"
        assert_rows_equal(rewritten.day_rows(table, change), expected, f"{table} ({change})")


@pytest.mark.xdist_group("hostile_rewritten")  # one worker loads it once
@pytest.mark.parametrize(
    "change",
    [
        pytest.param("duplicate_member", id="same-member-twice-read-once"),
        pytest.param("backslash_names", id="backslash-member-names"),
    ],
)
def test_odd_member_names_load_exactly(rewritten: Rewritten, change: str) -> None:
    assert_day_matches(rewritten, change)
    assert rewritten.day_rejected(change) == []


@pytest.mark.xdist_group("hostile_rewritten")
def test_dlt_named_csv_columns_are_renamed_and_never_overwrite_dlt_columns(
    rewritten: Rewritten,
) -> None:
    assert_day_matches(rewritten, "dlt_columns")
    rows = rewritten.day_rows("searches", "dlt_columns")
    assert {(row["coveo_dlt_id"], row["coveo_dlt_load_id"]) for row in rows} == {("v1", "v3")}
    start, end = day_of("dlt_columns")
    others = [row for row in rewritten.tables["searches"] if not start <= row["datetime"] < end]
    assert others, "the other days are loaded too"
    assert {(row["coveo_dlt_id"], row["coveo_dlt_load_id"]) for row in others} == {(None, None)}
    pipeline = rewritten.pipeline
    table = f"{pipeline.dataset_name}.searches"
    with duckdb.connect(duckdb_path(pipeline)) as connection:
        names = [row[0] for row in connection.execute(f"DESCRIBE {table}").fetchall()]
        dlt_columns = [name for name in names if name.startswith("_dlt")]
        for name in dlt_columns:  # dlt's own columns, if any, hold dlt's values only
            sql = f"SELECT count(*) FROM {table} WHERE {name} IN ('v1', 'v3')"
            assert connection.execute(sql).fetchall() == [(0,)], name
    assert {"coveo_dlt_id", "coveo_dlt_load_id"} <= set(names)


@pytest.mark.xdist_group("hostile_rewritten")
def test_an_over_long_row_is_rejected_and_the_rest_of_the_window_loads(
    rewritten: Rewritten,
) -> None:
    assert_day_matches(rewritten, "long_row")
    (rejected,) = rewritten.day_rejected("long_row")
    assert "over the limit of 16777216 (ROW_MAX_BYTES)" in rejected["reason"]
    assert len(rejected["raw_text"].encode()) <= ROW_KEEP_BYTES
    assert rejected["raw_text"].startswith(("long-row,", "20"))  # the record's first bytes
    assert rejected["window_start"] == day_of("long_row")[0]


def _first_records(
    simulator: Simulator, tmp_path: Path, day: tuple[datetime, datetime]
) -> list[dict[str, str]]:
    """The first three searches records of the day's window, as the fault spoils them."""
    clean = tmp_path / "clean.zip"
    write_export_zip(clean, simulator.config, *day)
    rewrite_zip(clean, tmp_path / "spoiled.zip", "invalid_utf8")
    with zipfile.ZipFile(clean) as archive:
        text = archive.read("searches.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))[:3]


@pytest.mark.xdist_group("hostile_rewritten")
def test_invalid_utf8_repairs_free_text_and_rejects_identifiers_and_timestamps(
    rewritten: Rewritten, tmp_path: Path
) -> None:
    simulator, pipeline, day = rewritten.simulator, rewritten.pipeline, day_of("invalid_utf8")
    records = _first_records(simulator, tmp_path, day)
    repaired, bad_id, bad_time = (row["searchId"] for row in records)
    expected = [
        row
        for row in expected_rows(simulator, "searches", *day)
        if row["search_id"] not in (bad_id, bad_time)
    ]
    loaded = rewritten.day_rows("searches", "invalid_utf8")
    (fixed,) = [row for row in loaded if row["search_id"] == repaired]
    repaired_columns = [name for name, value in fixed.items() if "\ufffd" in str(value)]
    assert len(repaired_columns) == 1, fixed
    (want,) = [row for row in expected if row["search_id"] == repaired]
    column = repaired_columns[0]
    assert fixed[column] == (want[column] or "") + "\ufffd"
    want[column] = fixed[column]
    assert_rows_equal(loaded, expected, "searches")
    reasons = [row["reason"] for row in rewritten.day_rejected("invalid_utf8")]
    assert len(reasons) == 2
    assert "UTF-8 text column 'search_id'" in reasons[0]
    assert "timestamp column 'datetime'" in reasons[1]
    with duckdb.connect(duckdb_path(pipeline)) as connection:
        counts = connection.execute(
            f"SELECT window_start, repaired_values, rejected_rows FROM "
            f"{pipeline.dataset_name}._coveo_ua_windows WHERE table_name = 'searches' "
            "ORDER BY window_start"
        ).fetchall()
    expected_counts = {"long_row": (0, 1), "invalid_utf8": (1, 2)}
    assert [(repaired, rejected) for _, repaired, rejected in counts] == [
        expected_counts.get(change, (0, 0)) for change in REWRITES
    ], "only the spoiled day has repaired values"


def test_zips_are_removed_when_the_run_is_interrupted(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    def interrupt(event: Any) -> None:
        if event.kind == "rows":
            raise KeyboardInterrupt

    pipeline = make_pipeline("hostile_interrupt")
    with pytest.raises((KeyboardInterrupt, PipelineStepFailed)):
        pipeline.run(make_source(simulator, progress=interrupt))
    assert _zips_left(pipeline) == []
