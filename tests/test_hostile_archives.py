"""Odd and hostile archives end to end: refused before anything is committed, or loaded exactly.

The simulator's "rewrite" fault changes one download's copy of an export zip (see
``simulator/hostile.py``); the next download of the same export is clean, so a rerun shows
that nothing was poisoned. Loaded rows are compared with the simulator's ground truth.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline
from helpers import (
    END,
    START,
    assert_rows_equal,
    assert_tables_match,
    duckdb_path,
    expected_rows,
    loaded_rows,
    make_source,
    rejected_rows,
)

from coveo_ua_source.exceptions import ExportFileError
from coveo_ua_source.schema import TABLES
from coveo_ua_source.settings import ROW_KEEP_BYTES
from coveo_ua_source.simulator import Simulator, write_export_zip
from coveo_ua_source.simulator.dimensions import sim_columns
from coveo_ua_source.simulator.hostile import rewrite_zip

FIRST_DAY = (START, START + timedelta(days=1))


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
    with duckdb.connect(duckdb_path(pipeline), read_only=True) as connection:
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


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("duplicate_member", id="same-member-twice-read-once"),
        pytest.param("backslash_names", id="backslash-member-names"),
    ],
)
def test_odd_member_names_load_exactly(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline], change: str
) -> None:
    simulator.inject("rewrite", count=2, change=change)  # both windows' downloads
    pipeline = make_pipeline("hostile_names")
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)


def test_dlt_named_csv_columns_are_renamed_and_never_overwrite_dlt_columns(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    simulator.inject("rewrite", count=2, change="dlt_columns")
    pipeline = make_pipeline("hostile_dlt_columns")
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)
    rows = loaded_rows(pipeline, "searches")
    assert {(row["coveo_dlt_id"], row["coveo_dlt_load_id"]) for row in rows} == {("v1", "v3")}
    table = f"{pipeline.dataset_name}.searches"
    with duckdb.connect(duckdb_path(pipeline), read_only=True) as connection:
        names = [row[0] for row in connection.execute(f"DESCRIBE {table}").fetchall()]
        dlt_columns = [name for name in names if name.startswith("_dlt")]
        for name in dlt_columns:  # dlt's own columns, if any, hold dlt's values only
            sql = f"SELECT count(*) FROM {table} WHERE {name} IN ('v1', 'v3')"
            assert connection.execute(sql).fetchall() == [(0,)], name
    assert {"coveo_dlt_id", "coveo_dlt_load_id"} <= set(names)


def test_an_over_long_row_is_rejected_and_the_rest_of_the_window_loads(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    simulator.inject("rewrite", change="long_row", bytes=17 << 20)
    pipeline = make_pipeline("hostile_long_row")
    pipeline.run(make_source(simulator, max_concurrent_exports=1)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)
    (rejected,) = rejected_rows(pipeline)
    assert "over the limit of 16777216 (ROW_MAX_BYTES)" in rejected["reason"]
    assert len(rejected["raw_text"].encode()) <= ROW_KEEP_BYTES
    assert rejected["raw_text"].startswith(("long-row,", "20"))  # the record's first bytes
    assert rejected["window_start"] == FIRST_DAY[0]


def _first_records(simulator: Simulator, tmp_path: Path) -> list[dict[str, str]]:
    """The first three searches records of the first window, as the fault spoils them."""
    clean = tmp_path / "clean.zip"
    write_export_zip(clean, simulator.config, *FIRST_DAY)
    rewrite_zip(clean, tmp_path / "spoiled.zip", "invalid_utf8")
    with zipfile.ZipFile(clean) as archive:
        text = archive.read("searches.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))[:3]


def test_invalid_utf8_repairs_free_text_and_rejects_identifiers_and_timestamps(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline], tmp_path: Path
) -> None:
    simulator.inject("rewrite", change="invalid_utf8")
    pipeline = make_pipeline("hostile_utf8")
    pipeline.run(make_source(simulator, max_concurrent_exports=1)).raise_on_failed_jobs()
    repaired, bad_id, bad_time = (row["searchId"] for row in _first_records(simulator, tmp_path))
    expected = [
        row
        for row in expected_rows(simulator, "searches", START, END)
        if row["search_id"] not in (bad_id, bad_time)
    ]
    loaded = loaded_rows(pipeline, "searches")
    (fixed,) = [row for row in loaded if row["search_id"] == repaired]
    repaired_columns = [name for name, value in fixed.items() if "\ufffd" in str(value)]
    assert len(repaired_columns) == 1, fixed
    (want,) = [row for row in expected if row["search_id"] == repaired]
    column = repaired_columns[0]
    assert fixed[column] == (want[column] or "") + "\ufffd"
    want[column] = fixed[column]
    assert_rows_equal(loaded, expected, "searches")
    reasons = [row["reason"] for row in rejected_rows(pipeline)]
    assert len(reasons) == 2
    assert "UTF-8 text column 'search_id'" in reasons[0]
    assert "timestamp column 'datetime'" in reasons[1]
    with duckdb.connect(duckdb_path(pipeline), read_only=True) as connection:
        counts = connection.execute(
            f"SELECT window_start, repaired_values, rejected_rows FROM "
            f"{pipeline.dataset_name}._coveo_ua_windows WHERE table_name = 'searches' "
            "ORDER BY window_start"
        ).fetchall()
    assert [(repaired, rejected) for _, repaired, rejected in counts] == [(1, 2), (0, 0)]


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
