"""End-to-end: the dlt source against the simulator, every table checked against ground truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from dlt.common.schema import Schema
from dlt.pipeline.pipeline import Pipeline
from helpers import (
    END,
    START,
    TOKEN,
    assert_loaded_match,
    assert_tables_match,
    loaded_tables,
    make_source,
)
from helpers.load_path import dispositions

from coveo_ua_simulator import Simulator, SimulatorConfig
from coveo_ua_source import coveo_ua_source
from coveo_ua_source.schema import TABLES, TTable

# Tests that read one module-scoped load run on one xdist worker, so the load is made once.
READS_INCREMENTAL_RUNS = pytest.mark.xdist_group("pipeline_incremental_runs")
READS_ENVIRONMENT_LOAD = pytest.mark.xdist_group("pipeline_from_environment")


def created_tables(simulator: Simulator) -> list[tuple[str, ...]]:
    """The tables of every export created so far, in window order."""
    exports = sorted(simulator.exports.values(), key=lambda export: (export.start, export.tables))
    return [tuple(export.tables) for export in exports]


@dataclass(frozen=True)
class Stage:
    """What one run of an incremental pipeline left behind, read right after the run."""

    end: datetime
    created_count: int
    # in order of creation: start, end, tables, deleted
    exports: list[tuple[datetime, datetime, tuple[str, ...], bool]]
    rows: dict[TTable, list[dict[str, Any]]]
    state: dict[str, Any]  # the source's dlt state
    schema: Schema
    dispositions: set[str]  # the write dispositions of the data tables after the run

    def new_exports(self, before: Stage) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
        """The exports created since ``before``, in window order."""
        return sorted(export[:3] for export in self.exports[len(before.exports) :])


LATER = END + timedelta(days=1, hours=6)
# One pipeline, run five times like a schedule would: a first load, a rerun with the same
# end, a later end, a lookback, then new windows after the lookback's merge. The tests
# below each read the stages they are about.
INCREMENTAL_RUNS: dict[str, tuple[datetime, dict[str, Any]]] = {
    "first": (END, {}),
    "same_end": (END, {}),
    "later_end": (LATER, {}),
    "lookback": (END + timedelta(days=2), {"lookback": "PT12H"}),
    "after_lookback": (END + timedelta(days=3), {}),
}


@dataclass(frozen=True)
class Runs:
    """The runs of a module-scoped pipeline, by name, and the simulator they loaded from."""

    simulator: Simulator
    stages: dict[str, Stage]


@pytest.fixture(scope="module")
def incremental(module_pipelines: Callable[..., Pipeline]) -> Iterator[Runs]:
    """Read only: the four runs, made once for the module, on a simulator of their own."""
    with Simulator(SimulatorConfig(token=TOKEN)) as simulator:
        pipeline = module_pipelines("coveo_ua_incremental")
        stages: dict[str, Stage] = {}
        for name, (end, options) in INCREMENTAL_RUNS.items():
            pipeline.run(make_source(simulator, end_date=end, **options)).raise_on_failed_jobs()
            stages[name] = _stage(simulator, pipeline, end)
        yield Runs(simulator, stages)


def _stage(
    simulator: Simulator, pipeline: Pipeline, end: datetime, tables: Sequence[TTable] = TABLES
) -> Stage:
    exports = sorted(simulator.exports.values(), key=lambda export: export.created_at)
    seen = [(e.start, e.end, tuple(e.tables), e.deleted) for e in exports]
    state = deepcopy(dict(pipeline.state["sources"]["coveo_ua"]))  # type: ignore[typeddict-item]
    rows = loaded_tables(pipeline, tables)
    schema = pipeline.default_schema.clone()
    used = dispositions(pipeline, tables)
    return Stage(end, simulator.created_count, seen, rows, state, schema, used)


@READS_INCREMENTAL_RUNS
def test_full_load_equals_ground_truth(incremental: Runs) -> None:
    first = incremental.stages["first"]
    assert_loaded_match(first.rows, incremental.simulator)
    assert first.created_count == 2, "one export per day window, all tables in each"
    assert all(len(tables) == len(TABLES) for _, _, tables, _ in first.exports)


@READS_INCREMENTAL_RUNS
def test_rerun_with_same_end_creates_no_export(incremental: Runs) -> None:
    first, again = incremental.stages["first"], incremental.stages["same_end"]
    assert not any(deleted for *_, deleted in first.exports)
    assert again.created_count == 2
    assert all(deleted for *_, deleted in again.exports), (
        "exports whose rows are in dlt state are deleted on the next run"
    )
    assert_loaded_match(again.rows, incremental.simulator)


@READS_INCREMENTAL_RUNS
def test_later_end_exports_only_new_windows(incremental: Runs) -> None:
    before, later = incremental.stages["same_end"], incremental.stages["later_end"]
    assert later.created_count == 4, "two new windows: a whole day and six hours"
    new_ranges = [(start, end) for start, end, _ in later.new_exports(before)]
    assert new_ranges == [(END, END + timedelta(days=1)), (END + timedelta(days=1), LATER)]
    assert_loaded_match(later.rows, incremental.simulator, end=LATER)


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


@READS_INCREMENTAL_RUNS
def test_lookback_reexports_without_duplicates(incremental: Runs) -> None:
    before, lookback = incremental.stages["later_end"], incremental.stages["lookback"]
    new = lookback.new_exports(before)
    assert len(new) == 2, new
    assert new[0][0] == LATER - timedelta(hours=12), "the run starts 12 hours back"
    assert_loaded_match(lookback.rows, incremental.simulator, end=lookback.end)


@READS_INCREMENTAL_RUNS
def test_new_windows_append_and_a_lookback_merges(incremental: Runs) -> None:
    """Append when nothing loaded overlaps (also right after a merge), merge when a
    lookback does: the rows equal the ground truth after each (the decision itself:
    test_unit_load_path.py; on PostgreSQL: test_postgres.py)."""
    stages = incremental.stages
    used = [stages[name].dispositions for name in ("first", "later_end", "lookback")]
    assert used == [{"append"}, {"append"}, {"merge"}]
    after = stages["after_lookback"]
    assert after.dispositions == {"append"}, "new windows after a merge append again"
    assert after.new_exports(stages["lookback"]) == [
        (END + timedelta(days=2), END + timedelta(days=3), tuple(TABLES))
    ]
    assert_loaded_match(after.rows, incremental.simulator, end=after.end)


# Hours 2 and 6 of START's day hold empty tables (every table in hour 2, custom_events in
# hour 6); day windows never do, so the empty-table variants export hour by hour.
HOURLY: dict[str, Any] = {"window": "PT1H", "end_date": START + timedelta(hours=7)}
# Each form of the files the exports API can serve: (source options, simulator options).
CONTRACT_VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "no-newline": ({"export_format": "NO_NEWLINE"}, {}),
    "display-names": ({"use_display_names": True}, {}),
    "space-ms": ({}, {"timestamp_style": "space_ms", "bom": False}),
    "space-no-ms": ({}, {"timestamp_style": "space"}),
    "iso-no-ms": ({}, {"timestamp_style": "iso_z_no_ms"}),
    "split": ({}, {"header_case": "api", "max_rows_per_file": 50}),  # 3 to 18 files
    "absent-empty-tables": (HOURLY, {"empty_table": "absent"}),
    "empty-files": (HOURLY, {"empty_table": "empty"}),
}
# Variants that meet different steps of reading (the CSV dialect, header names, timestamp
# text, members per table, empty tables) are loaded together: three pipeline runs, not
# eight. When a run of several fails, each of them is loaded alone to say which one broke.
CONTRACT_RUNS = (
    ("no-newline", "space-no-ms", "absent-empty-tables"),
    ("display-names", "iso-no-ms", "empty-files"),
    ("space-ms", "split"),
)


def variant_options(names: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source and simulator options of variants loaded together; none may set an
    option another one sets."""
    source_options: dict[str, Any] = {}
    simulator_options: dict[str, Any] = {}
    for name in names:
        source, simulator = CONTRACT_VARIANTS[name]
        overridden = source_options.keys() & source.keys() | simulator_options.keys() & simulator
        assert not overridden, f"{names}: {name} sets {overridden} again"
        source_options |= source
        simulator_options |= simulator
    return source_options, simulator_options


def load_variants(
    start_simulator: Callable[..., Simulator],
    make_pipeline: Callable[..., Pipeline],
    names: Sequence[str],
) -> None:
    source_options, simulator_options = variant_options(names)
    simulator = start_simulator(**simulator_options)
    pipeline = make_pipeline("coveo_ua_" + "_".join(names).replace("-", "_"))
    pipeline.run(make_source(simulator, **source_options)).raise_on_failed_jobs()
    export_format = source_options.get("export_format", "EXCEL")
    end = source_options.get("end_date", END)
    assert_tables_match(pipeline, simulator, end=end, export_format=export_format)
    if "empty_table" in simulator_options:
        counts = [n for export in simulator.exports.values() for n in export.rows.values()]
        assert 0 in counts, f"{names}: no export held an empty table; this proves nothing"


def test_every_contract_variant_is_loaded_once() -> None:
    loaded = sorted(name for names in CONTRACT_RUNS for name in names)
    assert loaded == sorted(CONTRACT_VARIANTS)
    for names in CONTRACT_RUNS:
        variant_options(names)


@pytest.mark.parametrize("names", [pytest.param(n, id="+".join(n)) for n in CONTRACT_RUNS])
def test_contract_variants_load_the_same_rows(
    start_simulator: Callable[..., Simulator],
    make_pipeline: Callable[..., Pipeline],
    names: tuple[str, ...],
) -> None:
    try:
        load_variants(start_simulator, make_pipeline, names)
    except Exception as error:
        alone = {name: _failure_alone(start_simulator, make_pipeline, name) for name in names}
        broken = {name: failure for name, failure in alone.items() if failure is not None}
        raise AssertionError(
            f"variants {names} loaded together failed; loaded alone, these fail: "
            f"{broken or 'none (only together)'}"
        ) from error


def _failure_alone(
    start_simulator: Callable[..., Simulator], make_pipeline: Callable[..., Pipeline], name: str
) -> str | None:
    try:
        load_variants(start_simulator, make_pipeline, (name,))
    except Exception as error:  # reported by the caller, variant by variant
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(scope="module")
def from_environment(module_pipelines: Callable[..., Pipeline]) -> Iterator[Runs]:
    """Read only: searches and clicks loaded once, the source configured as dlt users do,
    from the environment alone (only end_date and tables are passed)."""
    with Simulator(SimulatorConfig(token=TOKEN)) as simulator:
        pipeline = module_pipelines("coveo_ua_from_environment")
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("SOURCES__COVEO_UA__ACCESS_TOKEN", TOKEN)
            monkeypatch.setenv("SOURCES__COVEO_UA__START_DATE", START.isoformat())
            monkeypatch.setenv("SOURCES__COVEO_UA__BASE_URL", simulator.api_root)
            monkeypatch.setenv("SOURCES__COVEO_UA__POLL_INTERVAL", "0.01")
            source = coveo_ua_source(end_date=END, tables=["searches", "clicks"])
            pipeline.run(source).raise_on_failed_jobs()
        yield Runs(simulator, {"loaded": _stage(simulator, pipeline, END, ("searches", "clicks"))})


@READS_ENVIRONMENT_LOAD
def test_config_from_environment_like_dlt_users_expect(from_environment: Runs) -> None:
    loaded = from_environment.stages["loaded"]
    assert_loaded_match(loaded.rows, from_environment.simulator)
    assert loaded.created_count == 2


@READS_ENVIRONMENT_LOAD
def test_state_records_where_each_table_ended(from_environment: Runs) -> None:
    resources = from_environment.stages["loaded"].state["resources"]
    assert resources["searches"]["last_end"] == END.isoformat()
    assert resources["clicks"]["last_end"] == END.isoformat()
    assert "groups" not in resources


@READS_ENVIRONMENT_LOAD
def test_loaded_column_types_are_typed(from_environment: Runs) -> None:
    schema = from_environment.stages["loaded"].schema
    searches = schema.get_table_columns("searches")
    assert searches["datetime"]["data_type"] == "timestamp"
    assert searches["number_of_results"]["data_type"] == "bigint"
    assert searches["response_time"]["data_type"] == "double"
    assert searches["is_anonymous"]["data_type"] == "bool"
    assert searches["search_id"].get("primary_key") is True
    assert searches["search_id"].get("nullable") is False
    clicks = schema.get_table_columns("clicks")
    assert clicks["click_rank"]["data_type"] == "bigint"
    clicks_table = schema.get_table("clicks")
    assert clicks_table["write_disposition"] == "append", "a first load overlaps nothing"
    assert clicks["click_id"].get("primary_key") is True, "the key stays for later merges"
