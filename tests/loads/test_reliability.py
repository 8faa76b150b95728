"""Window sizing, coverage bookkeeping and bad input, end to end against the simulator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline
from helpers import (
    END,
    START,
    TOKEN,
    assert_rows_equal,
    assert_tables_match,
    coverage_rows,
    expected_rows,
    loaded_rows,
    make_source,
)

from coveo_ua_simulator import Simulator
from coveo_ua_source import coveo_ua_source
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.exceptions import (
    ConfigurationError,
    CoveoAuthError,
    CoveoBadRequestError,
)

# Tests that read one module-scoped load run on one xdist worker, so the load is made once.
READS_SEARCHES_AND_CLICKS = pytest.mark.xdist_group("reliability_searches_and_clicks")


def test_windows_over_the_row_limit_are_split_before_export(
    start_simulator: Callable[..., Simulator], make_pipeline: Callable[..., Pipeline]
) -> None:
    simulator = start_simulator(row_limit=200)
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator, tables=["searches", "keywords"])).raise_on_failed_jobs()
    creates = [r for r in simulator.requests if r.method == "POST"]
    assert all(r.status == 201 for r in creates), "no create was rejected for size"
    assert simulator.created_count > 2, "day windows were split to fit the limit"
    for export in simulator.exports.values():
        assert max(export.rows.values()) <= 200 * 0.9
    assert_tables_match(pipeline, simulator, tables=("searches", "keywords"))


@pytest.fixture(scope="module")
def searches_and_clicks(
    module_simulator: Simulator, module_pipelines: Callable[..., Pipeline]
) -> Pipeline:
    """Read only: searches and clicks loaded once for the module."""
    pipeline = module_pipelines("coveo_ua_reliability")
    source = make_source(module_simulator, tables=["searches", "clicks"])
    pipeline.run(source).raise_on_failed_jobs()
    return pipeline


@READS_SEARCHES_AND_CLICKS
def test_coverage_table_records_every_window_and_table(
    module_simulator: Simulator, searches_and_clicks: Pipeline
) -> None:
    simulator = module_simulator
    rows = coverage_rows(searches_and_clicks)
    assert len(rows) == 4, "two day windows times two tables"
    for row in rows:
        truth = expected_rows(simulator, row["table_name"], row["window_start"], row["window_end"])
        assert row["loaded_rows"] == len(truth)
        assert row["estimated_rows"] == len(truth)
        assert row["rejected_rows"] == 0
        assert row["status"] == "loaded"
        assert row["export_id"] in simulator.exports


def test_loaded_rows_below_estimate_are_reported(
    start_simulator: Callable[..., Simulator],
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator = start_simulator(estimate_factor=1.5)
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING, logger="coveo_ua_source"):
        pipeline.run(make_source(simulator, tables=["searches"])).raise_on_failed_jobs()
    assert {row["status"] for row in coverage_rows(pipeline)} == {"below_estimate"}
    assert "the service estimated" in caplog.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"tables": ["searches", "sessions"]}, "unknown table", id="unknown-table"),
        pytest.param({"start_date": "2024-03-05"}, "not before end_date", id="start-after-end"),
        pytest.param({"start_date": "last tuesday"}, "start_date", id="bad-date"),
        pytest.param({"window": "one day"}, "window", id="bad-duration"),
        pytest.param({"lookback": "P1M"}, "lookback", id="month-duration"),
        pytest.param({"access_token": ""}, "SOURCES__COVEO_UA__ACCESS_TOKEN", id="no-token"),
        pytest.param({"export_format": "XLSX"}, "export_format", id="bad-format"),
        pytest.param({"region": "mars", "base_url": None}, "region", id="bad-region"),
        pytest.param({"base_url": "http://127.0.0.1:1/api"}, "/rest/ua", id="bad-base-url"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    module_simulator: Simulator, overrides: dict[str, Any], message: str
) -> None:
    requests_before = len(module_simulator.requests)
    with pytest.raises(ValueError, match=message) as raised:
        make_source(module_simulator, **overrides)
    assert isinstance(raised.value, ConfigurationError | ValueError)
    assert module_simulator.requests[requests_before:] == []


def test_missing_token_in_config_is_a_value_error(module_simulator: Simulator) -> None:
    requests_before = len(module_simulator.requests)
    with pytest.raises(ConfigurationError, match=r"secrets\.toml"):
        coveo_ua_source(base_url=module_simulator.api_root, start_date=START, end_date=END)
    assert module_simulator.requests[requests_before:] == []


def test_bad_token_fails_with_hint_and_without_the_token(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    secret = "not-the-right-token-12345"
    with pytest.raises(PipelineStepFailed) as raised:
        make_pipeline().run(make_source(simulator, access_token=secret))
    error = raised.value.__context__ or raised.value.__cause__
    chain = _exception_chain(raised.value)
    assert any(isinstance(e, CoveoAuthError) for e in chain), chain
    text = " ".join(str(e) for e in chain)
    assert "401" in text
    assert "invalid or expired" in text
    assert secret not in text
    assert error is not None


def test_a_400_keeps_what_was_loaded_before(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator, tables=["searches"])).raise_on_failed_jobs()
    later = END + timedelta(days=1)
    bad = make_source(
        simulator, tables=["searches"], end_date=later, filters=["this is not a filter"]
    )
    with pytest.raises(PipelineStepFailed) as raised:
        pipeline.run(bad)
    chain = _exception_chain(raised.value)
    assert any(isinstance(e, CoveoBadRequestError) for e in chain), chain
    assert_rows_equal(
        loaded_rows(pipeline, "searches"), expected_rows(simulator, "searches", START, END), "s"
    )
    pipeline.run(make_source(simulator, tables=["searches"], end_date=later)).raise_on_failed_jobs()
    assert_rows_equal(
        loaded_rows(pipeline, "searches"),
        expected_rows(simulator, "searches", START, later),
        "searches",
    )


def _exception_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


@READS_SEARCHES_AND_CLICKS
def test_token_is_never_stored_in_state_or_files(searches_and_clicks: Pipeline) -> None:
    pipeline = searches_and_clicks
    assert TOKEN not in str(pipeline.state)
    files = [path for path in Path(pipeline.pipelines_dir).parent.rglob("*") if path.is_file()]
    assert any(path.suffix == ".duckdb" for path in files), "the module's folder was searched"
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("keep_exports", "deleted"),
    [pytest.param(False, True, id="deleted"), pytest.param(True, False, id="kept")],
)
def test_exports_are_deleted_after_their_rows_are_committed_unless_kept(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    keep_exports: bool,
    deleted: bool,
) -> None:
    pipeline = make_pipeline()
    first = make_source(simulator, tables=["searches"], keep_exports=keep_exports)
    pipeline.run(first).raise_on_failed_jobs()
    assert not any(export.deleted for export in simulator.exports.values()), (
        "kept until dlt state shows the rows extracted, so a crashed run can reattach"
    )
    later = make_source(
        simulator, tables=["searches"], keep_exports=keep_exports, end_date=END + timedelta(1)
    )
    pipeline.run(later).raise_on_failed_jobs()
    first_two = sorted(simulator.exports.values(), key=lambda export: export.start)[:2]
    assert [export.deleted for export in first_two] == [deleted, deleted]


@READS_SEARCHES_AND_CLICKS
def test_plan_load_starts_where_the_pipeline_ended_and_creates_nothing(
    module_simulator: Simulator, searches_and_clicks: Pipeline
) -> None:
    from coveo_ua_source import plan_load

    simulator, pipeline = module_simulator, searches_and_clicks
    created = simulator.created_count
    later = END + timedelta(days=2)
    plan = plan_load(
        TOKEN, base_url=simulator.api_root, start_date=START, end_date=later,
        tables=["searches", "groups"], pipeline=pipeline,
    )  # fmt: skip
    assert simulator.created_count == created
    searches = [p.window.start for p in plan if "searches" in p.tables]
    groups = [p.window.start for p in plan if "groups" in p.tables]
    assert searches == [END, END + timedelta(days=1)], "searches resume at the loaded end"
    assert groups[0] == START, "a table never loaded starts at start_date"
    for planned in plan:
        for table in planned.tables:
            truth = expected_rows(simulator, table, planned.window.start, planned.window.end)
            assert planned.estimates[table] == len(truth)


def test_a_twin_export_left_by_a_retried_create_is_deleted_too(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.run(make_source(simulator, tables=["searches"])).raise_on_failed_jobs()
    first = min(simulator.exports.values(), key=lambda export: export.start)
    # What a create whose answer was lost, then retried, leaves behind: the same window
    # and description under another id.
    client = CoveoClient(TOKEN, base_url=simulator.api_root)
    twin = client.create_export(
        first.start, first.end, tables=["searches"], description=first.description
    )
    before = set(simulator.exports)
    later = END + timedelta(days=1)
    source = make_source(simulator, tables=["searches"], end_date=later, lookback="P1D")
    pipeline.run(source).raise_on_failed_jobs()
    created = sorted((e.start, e.end) for i, e in simulator.exports.items() if i not in before)
    assert created == [(END - timedelta(days=1), END), (END, later)], (
        "the lookback window is exported afresh, not reattached to an export just deleted"
    )
    assert simulator.exports[twin.id].deleted
    assert simulator.exports[first.id].deleted
    assert_rows_equal(
        loaded_rows(pipeline, "searches"),
        expected_rows(simulator, "searches", START, later),
        "searches",
    )
