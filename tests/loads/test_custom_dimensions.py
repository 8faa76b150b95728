"""Custom dimensions typed from Coveo's exportables: unit tests and whole pipelines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import (
    END,
    START,
    TOKEN,
    assert_no_variant_columns,
    assert_rows_equal,
    assert_tables_match,
    expected_rows,
    loaded_rows,
    make_source,
)
from helpers.copies import copy_loaded_pipeline
from helpers.open_database import databases_kept_open
from helpers.pipelines import isolate_dlt_config, pipelines_in
from helpers.rejected_values import (
    TYPED_TABLES,
    assert_rejected_values_match,
    loaded_rejected_values,
)

from coveo_ua_simulator import Simulator, SimulatorConfig, ground_truth
from coveo_ua_simulator.truth import rejected_values
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.ingest.custom_dimensions import (
    Dimension,
    column_types,
    parse_exportables,
    type_batch,
)
from coveo_ua_source.runs.plan import positions_from_state
from coveo_ua_source.schema import TABLES, TTable
from coveo_ua_source.warehouse.dimension_catalog import REJECTED_VALUES_TABLE
from coveo_ua_source.warehouse.views import create_views

EXPORTABLES = "/v15/dimensions/exportables"


def batch_of(values: list[str | None], key: str = "search_id") -> pa.RecordBatch:
    ids = [f"id-{index}" for index in range(len(values))]
    schema = pa.schema([pa.field(key, pa.string(), nullable=False), pa.field("c_x", pa.string())])
    return pa.RecordBatch.from_arrays([pa.array(ids), pa.array(values, pa.string())], schema=schema)


@pytest.mark.parametrize(
    ("coveo_type", "values", "expected", "bad"),
    [
        pytest.param("NUMBER", ["19.99", " 0 ", "1,299.00", None], [19.99, 0.0, None, None], [2],
                     id="number-is-double"),
        pytest.param("SHORT", ["1", "n/a", "42"], [1, None, 42], [1], id="short-is-bigint"),
        pytest.param("BOOLEAN", ["true", "FALSE", "1", "yes"], [True, False, True, None], [3],
                     id="boolean"),
        pytest.param("DATE", ["2024-02-01", "next week"], [date(2024, 2, 1), None], [1],
                     id="date"),
        pytest.param(
            "DATETIME",
            ["2024-01-31T23:59:59.999Z", "2024-02-01 08:00:00", "yesterday"],
            [datetime(2024, 1, 31, 23, 59, 59, 999000, UTC), datetime(2024, 2, 1, 8, tzinfo=UTC),
             None],
            [2],
            id="datetime-utc",
        ),
        pytest.param("TEXT", [" a ", "b"], [" a ", "b"], [], id="text-unchanged"),
        pytest.param("GEOPOINT", ["x"], ["x"], [], id="unknown-type-is-text"),
    ],
)  # fmt: skip
def test_type_batch_casts_each_type_and_rejects_bad_values(
    coveo_type: str, values: list[str | None], expected: list[Any], bad: list[int]
) -> None:
    typed = type_batch(batch_of(values), {"c_x": coveo_type}, ["search_id"])
    assert typed.batch.column("c_x").to_pylist() == expected
    rejected = typed.rejected.to_pylist()
    assert [json.loads(v["row_key"]) for v in rejected] == [{"search_id": f"id-{i}"} for i in bad]
    assert [v["raw_text"] for v in rejected] == [values[i] for i in bad]
    assert all(v["column_name"] == "c_x" and v["expected_type"] == coveo_type for v in rejected)
    assert not typed.batch.schema.field("search_id").nullable, "identifiers stay non-nullable"


@pytest.mark.parametrize(
    "ids",
    [
        pytest.param(["0c2f-41", "a b!#~[]", ""], id="plain-ids-joined-column-wise"),
        pytest.param(['say "hi"', "back\\slash", "é", "tab\t", "\u2028"], id="escaped-per-row"),
    ],
)
def test_row_keys_are_written_as_json_dumps_writes_them(ids: list[str]) -> None:
    schema = pa.schema(
        [pa.field("search_id", pa.string()), pa.field("keyword", pa.string()),
         pa.field("c_x", pa.string())]
    )  # fmt: skip
    keywords = [f"k{index}" for index in range(len(ids))]
    bad = ["n/a"] * len(ids)
    batch = pa.RecordBatch.from_arrays(
        [pa.array(ids), pa.array(keywords), pa.array(bad)], schema=schema
    )
    typed = type_batch(batch, {"c_x": "SHORT"}, ["search_id", "keyword"])
    expected = [
        json.dumps({"search_id": id_, "keyword": keyword}, sort_keys=True)
        for id_, keyword in zip(ids, keywords, strict=True)
    ]
    assert typed.rejected.column("row_key").to_pylist() == expected


def test_a_column_keeps_the_type_it_was_loaded_with() -> None:
    typed = type_batch(batch_of(["1.5"]), {"c_x": "NUMBER"}, ["search_id"], {"c_x": "text"})
    assert typed.batch.schema.names == ["search_id", "c_x"]
    assert typed.batch.column("c_x").to_pylist() == ["1.5"], "text stays text"
    same = type_batch(batch_of(["1.5"]), {"c_x": "NUMBER"}, ["search_id"], {"c_x": "double"})
    assert same.batch.column("c_x").to_pylist() == [1.5]
    double = type_batch(batch_of(["a", "2"]), {"c_x": "TEXT"}, ["search_id"], {"c_x": "double"})
    assert double.batch.schema.names == ["search_id", "c_x"]
    assert double.batch.column("c_x").to_pylist() == [None, 2.0], "a double stays double"
    assert double.rejected.column("raw_text").to_pylist() == ["a"]
    assert double.rejected.column("expected_type").to_pylist() == ["NUMBER"]


def test_only_custom_dimensions_are_typed_and_qualified_names_win() -> None:
    dimensions = parse_exportables(
        [
            {"returnName": "c_role", "type": "SHORT", "custom": True},
            {"returnName": "searches.c_role", "type": "NUMBER", "displayName": "Role"},
            {"returnName": "searches.numberOfResults", "type": "NUMBER"},
            {"displayName": "no return name"},
        ]
    )
    assert [d.return_name for d in dimensions] == [
        "c_role", "searches.c_role", "searches.numberOfResults",
    ]  # fmt: skip
    assert column_types(dimensions, "searches") == {"c_role": "NUMBER"}
    assert column_types(dimensions, "clicks") == {"c_role": "SHORT"}
    assert Dimension("clicks.c_a", "A", "DATE", True, ()).loads_as == "date"


def typed_tables_source(simulator: Simulator, **overrides: Any) -> Any:
    """The source for the tables with custom dimensions only: tests that read no other
    table spare a run the other tables' exports and loads."""
    return make_source(simulator, tables=TYPED_TABLES, **overrides)


def exportables_calls(simulator: Simulator) -> int:
    return sum(1 for r in simulator.requests if r.path.endswith(EXPORTABLES))


@dataclass(frozen=True)
class Loaded:
    """Two days of every table loaded, with the views created, and the exportables calls."""

    pipeline: Pipeline
    simulator: Simulator
    exportables_calls: int


# The module's shared load runs at a low rate of bad dimension values (a setting of the
# simulator); the tests that run on from the first day load the default, higher rate and
# compare it with the ground truth too.
LOW_BAD_DIMENSION_RATE = 0.02


@pytest.fixture(scope="module")
def loaded(module_pipelines: Callable[..., Pipeline]) -> Iterator[Loaded]:
    """Read only: loaded once for the module."""
    config = SimulatorConfig(token=TOKEN, bad_dimension_rate=LOW_BAD_DIMENSION_RATE)
    with Simulator(config) as simulator:
        pipeline = module_pipelines("coveo_ua_dimensions")
        pipeline.run(make_source(simulator)).raise_on_failed_jobs()
        calls = exportables_calls(simulator)
        create_views(pipeline)
        yield Loaded(pipeline, simulator, calls)


@pytest.mark.xdist_group("custom_dimensions_loaded")  # one worker loads it once
def test_typed_dimensions_and_rejected_values_equal_the_ground_truth(loaded: Loaded) -> None:
    pipeline, simulator = loaded.pipeline, loaded.simulator
    assert_tables_match(pipeline, simulator)  # typed c_* columns included
    columns = pipeline.default_schema.tables["custom_events"]["columns"]
    types = {name: columns[name]["data_type"] for name in columns if name.startswith("c_")}
    assert types == {
        "c_cart_value": "double", "c_delivery_date": "date", "c_ordered_at": "timestamp",
    }  # fmt: skip
    assert pipeline.default_schema.tables["searches"]["columns"]["c_page_number"]["data_type"] == (
        "bigint"
    )
    assert pipeline.default_schema.tables["clicks"]["columns"]["c_in_stock"]["data_type"] == "bool"
    assert_rejected_values_match(pipeline, simulator)
    assert loaded.exportables_calls == 1, "exportables is asked once per run"


@pytest.mark.xdist_group("custom_dimensions_loaded")
def test_a_low_bad_dimension_rate_loads_the_ground_truth(loaded: Loaded) -> None:
    """The shared load ran at the low rate; its rows and rejected values are compared
    with the ground truth above."""
    config = loaded.simulator.config
    assert config.bad_dimension_rate == LOW_BAD_DIMENSION_RATE
    every = sum(len(rejected_values(config, t, START, END)) for t in TYPED_TABLES)
    assert every, "the low rate still rejects values: the comparison above proves something"
    pools = replace(config, bad_dimension_rate=None)
    default = sum(len(rejected_values(pools, t, START, END)) for t in TYPED_TABLES)
    assert every * 5 < default, "the setting lowers the rate the tests run with"


FIRST_DAY_END = END - timedelta(days=1)


@pytest.fixture(scope="module")
def first_day_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline with the first day loaded, for tests that run on from there to copy
    (copy_loaded_pipeline): loaded once, at the simulator's default rate of bad values."""
    folder = tmp_path_factory.mktemp("first_day")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        Simulator(SimulatorConfig(token=TOKEN)) as simulator,
    ):
        isolate_dlt_config(monkeypatch, folder)
        with databases_kept_open() as held:
            pipeline = pipelines_in(folder, held)()
            pipeline.run(make_source(simulator, end_date=FIRST_DAY_END)).raise_on_failed_jobs()
    return folder


def first_day_pipeline(
    simulator: Simulator, folder: Path, make_pipeline: Callable[..., Pipeline], tmp_path: Path
) -> Pipeline:
    """A copy of the first-day pipeline in tmp_path, checked to hold the first day's state
    and rejected values (its tables are compared with the ground truth by the callers)."""
    copy_loaded_pipeline(folder, tmp_path, "coveo_ua_test")
    pipeline = make_pipeline()
    state = pipeline.state["sources"]["coveo_ua"]  # type: ignore[typeddict-item]
    assert set(positions_from_state(state, TABLES).values()) == {FIRST_DAY_END}
    assert loaded_rejected_values(pipeline, "searches"), "the copy holds the first day's rows"
    return pipeline


@pytest.mark.xdist_group("custom_dimensions_first_day")  # one worker loads the first day
def test_lookback_replaces_a_windows_rejected_values(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    first_day_folder: Path,
    tmp_path: Path,
) -> None:
    pipeline = first_day_pipeline(simulator, first_day_folder, make_pipeline, tmp_path)
    pipeline.run(make_source(simulator, lookback="P1D")).raise_on_failed_jobs()
    assert_rejected_values_match(pipeline, simulator)


def job_formats(info: Any, table: str) -> set[str]:
    """File formats of the completed load jobs of ``table`` in a run's load info."""
    return {
        job.job_file_info.file_format
        for package in info.load_packages
        for job in package.jobs["completed_jobs"]
        if job.job_file_info.table_name == table
    }


def test_rejected_values_load_from_parquet_also_into_a_table_of_dict_rows(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import coveo_ua_source.source as source_module
    from coveo_ua_source.ingest.custom_dimensions import empty_rejected
    from coveo_ua_source.warehouse import dimension_catalog
    from coveo_ua_source.warehouse.bookkeeping import window_replaced_item

    def as_dict_rows(table: str, ready: Any, rejected: list[pa.Table]) -> Any:
        """How the connector wrote rejected values before: one dict per value."""
        values = pa.concat_tables([empty_rejected(), *rejected]).to_pylist()
        hints = dimension_catalog._REJECTED_VALUES_HINTS
        return window_replaced_item(table, ready, values, hints)

    pipeline = make_pipeline()
    with monkeypatch.context() as patch:
        patch.setattr(source_module, "rejected_values_item", as_dict_rows)
        first = pipeline.run(typed_tables_source(simulator, end_date=END - timedelta(days=1)))
    assert job_formats(first, REJECTED_VALUES_TABLE) >= {"insert_values"}
    info = pipeline.run(typed_tables_source(simulator, lookback="P1D"))  # replaces dict rows
    info.raise_on_failed_jobs()
    assert "parquet" in job_formats(info, REJECTED_VALUES_TABLE)
    assert "insert_values" not in job_formats(info, REJECTED_VALUES_TABLE)
    assert_rejected_values_match(pipeline, simulator)
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(REJECTED_VALUES_TABLE)
        sql = f"SELECT count(*), count(DISTINCT _dlt_id), count(_dlt_load_id) FROM {name}"
        ((rows, ids, load_ids),) = client.execute_sql(sql) or [()]
    assert rows == ids == load_ids > 0, "every row has its own _dlt_id and a load id"


def test_exportables_failure_loads_text_with_one_warning(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.inject("html", count=1, path=EXPORTABLES)  # a 403 WAF page: not retried
    pipeline = make_pipeline()
    pipeline.run(typed_tables_source(simulator)).raise_on_failed_jobs()
    warnings = [r for r in caplog.records if "custom dimension types" in r.getMessage()]
    assert len(warnings) == 1
    for table in TYPED_TABLES:
        expected = ground_truth(simulator.config, table, START, END, custom_types={})
        assert_rows_equal(loaded_rows(pipeline, table), sort_rows(expected, table), table)
        assert loaded_rejected_values(pipeline, table) == []


def sort_rows(rows: list[dict[str, Any]], table: TTable) -> list[dict[str, Any]]:
    from coveo_ua_source.schema import primary_key

    return sorted(rows, key=lambda row: tuple(row[key] for key in primary_key(table)))


@pytest.mark.xdist_group("custom_dimensions_first_day")
def test_exportables_failure_keeps_the_types_already_loaded(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    first_day_folder: Path,
    tmp_path: Path,
) -> None:
    pipeline = first_day_pipeline(simulator, first_day_folder, make_pipeline, tmp_path)
    simulator.inject("html", count=1, path=EXPORTABLES)
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)  # typed as in the first run, no variant column
    assert not any("__v_" in name for name in pipeline.default_schema.tables["clicks"]["columns"])


@pytest.mark.xdist_group("custom_dimensions_first_day")
def test_a_type_change_between_runs_keeps_the_loaded_type(
    start_simulator: Callable[..., Simulator],
    make_pipeline: Callable[..., Pipeline],
    first_day_folder: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    retyped = (("custom_events.c_cart_value", "TEXT"), ("clicks.c_in_stock", "SHORT"))
    simulator = start_simulator(retyped_dimensions=retyped)
    # The first day was loaded with the types exportables answers first; from its second
    # call on, this simulator answers the new types: that first call is the first day's.
    assert CoveoClient(TOKEN, base_url=simulator.api_root).exportable_dimensions()
    pipeline = first_day_pipeline(simulator, first_day_folder, make_pipeline, tmp_path)
    pipeline.run(make_source(simulator)).raise_on_failed_jobs()
    assert_tables_match(pipeline, simulator)  # typed as first loaded, every day
    assert_rejected_values_match(pipeline, simulator)  # what does not fit is kept there
    assert_no_variant_columns(pipeline)
    assert "custom_events.c_cart_value was loaded as NUMBER but Coveo now reports TEXT" in (
        caplog.text
    )


def test_an_exportables_outage_on_the_first_run_never_splits_a_column(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    """Columns first seen during an outage load as text; once exportables answers again
    they stay text, rather than filling typed variant columns from then on."""
    simulator.inject("html", count=1, path=EXPORTABLES)  # a 403 WAF page: not retried
    pipeline = make_pipeline()
    middle = START + timedelta(days=1)
    pipeline.run(typed_tables_source(simulator, end_date=middle)).raise_on_failed_jobs()
    pipeline.run(typed_tables_source(simulator)).raise_on_failed_jobs()
    assert_no_variant_columns(pipeline)
    for table in TYPED_TABLES:
        expected = ground_truth(simulator.config, table, START, END, custom_types={})
        assert_rows_equal(loaded_rows(pipeline, table), sort_rows(expected, table), table)


def test_expected_rows_type_custom_dimensions(simulator: Simulator) -> None:
    rows = expected_rows(simulator, "custom_events", START, END)
    values = {type(row["c_delivery_date"]) for row in rows}
    assert values == {date, type(None)}


@pytest.mark.xdist_group("custom_dimensions_loaded")
def test_every_loaded_column_has_its_description_as_a_duckdb_comment(loaded: Loaded) -> None:
    """Also with the views created (they must not take the tables' comments away)."""
    pipeline = loaded.pipeline
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = ?",
            pipeline.dataset_name,
        )
    comments = {(table, column): comment for table, column, comment in rows or []}
    assert comments[("clicks", "click_rank")] == (
        "Click Rank: position of the opened result in the result list, from 1"
    )
    assert comments[("clicks", "c_in_stock")] == "c_in_stock: custom dimension, BOOLEAN in Coveo"
    for table in TABLES:
        columns = [c for c in pipeline.default_schema.get_table_columns(table) if c[:4] != "_dlt"]
        assert columns
        assert all(comments.get((table, c)) for c in columns), table
