"""End-to-end: the dlt source against the simulator, every table checked against ground truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import END, START, TOKEN, assert_tables_match, make_source

from coveo_ua_source import coveo_ua_source
from coveo_ua_source.schema import TABLES
from coveo_ua_source.simulator import Simulator


def created_tables(simulator: Simulator) -> list[tuple[str, ...]]:
    """The tables of every export created so far, in window order."""
    exports = sorted(simulator.exports.values(), key=lambda export: (export.start, export.tables))
    return [tuple(export.tables) for export in exports]


def test_full_load_equals_ground_truth(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)
    assert simulator.created_count == 2, "one export per day window, all tables in each"
    assert all(len(tables) == len(TABLES) for tables in created_tables(simulator))


def test_rerun_with_same_end_creates_no_export(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert not any(export.deleted for export in simulator.exports.values())
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert simulator.created_count == 2
    assert all(export.deleted for export in simulator.exports.values()), (
        "exports whose rows are in dlt state are deleted on the next run"
    )
    assert_tables_match(pipeline, simulator)


def test_later_end_exports_only_new_windows(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    later = END + timedelta(days=1, hours=6)
    pipeline.run(make_source(simulator, end_date=later)).raise_on_failed_jobs()
    assert simulator.created_count == 4, "two new windows: a whole day and six hours"
    new_ranges = sorted((e.start, e.end) for e in simulator.exports.values())[2:]
    assert new_ranges == [(END, END + timedelta(days=1)), (END + timedelta(days=1), later)]
    assert_tables_match(pipeline, simulator, end=later)


def test_table_added_later_is_backfilled_alone(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator, tables=["searches"])).raise_on_failed_jobs()
    first_run = set(simulator.exports)
    pipeline.run(make_source(simulator, tables=["searches", "groups"])).raise_on_failed_jobs()
    second_run = [e for i, e in simulator.exports.items() if i not in first_run]
    assert [tuple(e.tables) for e in second_run] == [("groups",)] * 2
    assert sorted(e.start for e in second_run) == [START, START + timedelta(days=1)]
    assert_tables_match(pipeline, simulator, tables=("searches", "groups"))


def test_with_resources_exports_only_selected_tables(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    source = make_source(simulator).with_resources("clicks", "keywords")
    pipeline.run(source).raise_on_failed_jobs()
    assert created_tables(simulator) == [("clicks", "keywords")] * 2
    assert_tables_match(pipeline, simulator, tables=("clicks", "keywords"))
    data_tables = set(pipeline.default_schema.data_table_names())
    bookkeeping = {"_coveo_ua_windows", "_coveo_ua_rejected_rows", "_coveo_ua_rejected_values"}
    assert data_tables - bookkeeping == {"clicks", "keywords"}


def test_lookback_reexports_without_duplicates(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    source = make_source(simulator, end_date=END + timedelta(days=1), lookback="PT12H")
    pipeline.run(source).raise_on_failed_jobs()
    assert simulator.created_count == 4
    second_run_starts = sorted(e.start for e in simulator.exports.values())[2:]
    assert second_run_starts[0] == END - timedelta(hours=12)
    assert_tables_match(pipeline, simulator, end=END + timedelta(days=1))


@pytest.mark.parametrize(
    ("source_options", "simulator_options", "export_format"),
    [
        pytest.param({"export_format": "NO_NEWLINE"}, {}, "NO_NEWLINE", id="no-newline"),
        pytest.param({"use_display_names": True}, {}, "EXCEL", id="display-names"),
        pytest.param({}, {"timestamp_style": "space_ms", "bom": False}, "EXCEL", id="space-ms"),
        pytest.param({}, {"timestamp_style": "space"}, "EXCEL", id="space-no-ms"),
        pytest.param({}, {"timestamp_style": "iso_z_no_ms"}, "EXCEL", id="iso-no-ms"),
        pytest.param({}, {"header_case": "api", "max_rows_per_file": 7}, "EXCEL", id="split"),
        pytest.param({}, {"empty_table": "absent"}, "EXCEL", id="absent-empty-tables"),
        pytest.param({}, {"empty_table": "empty"}, "EXCEL", id="empty-files"),
    ],
)
def test_contract_variants_load_the_same_rows(
    start_simulator: Callable[..., Simulator],
    make_pipeline: Callable[..., Pipeline],
    source_options: dict[str, Any],
    simulator_options: dict[str, Any],
    export_format: str,
) -> None:
    simulator = start_simulator(**simulator_options)
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator, **source_options)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator, export_format=export_format)


def test_state_records_where_each_table_ended(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator, tables=["searches", "clicks"])).raise_on_failed_jobs()
    resources = pipeline.state["sources"]["coveo_ua"]["resources"]  # type: ignore[typeddict-item]
    assert resources["searches"]["last_end"] == END.isoformat()
    assert resources["clicks"]["last_end"] == END.isoformat()
    assert "groups" not in resources


def test_config_from_environment_like_dlt_users_expect(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCES__COVEO_UA__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SOURCES__COVEO_UA__START_DATE", START.isoformat())
    monkeypatch.setenv("SOURCES__COVEO_UA__BASE_URL", simulator.api_root)
    monkeypatch.setenv("SOURCES__COVEO_UA__POLL_INTERVAL", "0.01")
    pipeline = make_pipeline()
    source = coveo_ua_source(end_date=END, tables=["searches"])
    pipeline.run(source).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator, tables=("searches",))


def test_loaded_column_types_are_typed(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator, tables=["searches", "clicks"])).raise_on_failed_jobs()
    searches = pipeline.default_schema.get_table_columns("searches")
    assert searches["datetime"]["data_type"] == "timestamp"
    assert searches["number_of_results"]["data_type"] == "bigint"
    assert searches["response_time"]["data_type"] == "double"
    assert searches["is_anonymous"]["data_type"] == "bool"
    assert searches["search_id"].get("primary_key") is True
    assert searches["search_id"].get("nullable") is False
    clicks = pipeline.default_schema.get_table_columns("clicks")
    assert clicks["click_rank"]["data_type"] == "bigint"
    clicks_table = pipeline.default_schema.get_table("clicks")
    assert clicks_table["write_disposition"] == "append", "a first load overlaps nothing"
    assert clicks["click_id"].get("primary_key") is True, "the key stays for later merges"
