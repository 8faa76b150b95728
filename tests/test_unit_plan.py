"""One run's plan (runs/plan.py): which windows, for which tables, sized, with which write
disposition. A stub client for the estimates and a DuckDB destination that was never
loaded; no export is created and nothing is loaded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.common.configuration.container import Container
from dlt.extract.source import SourceInjectableContext
from helpers import utc
from helpers.stub_client import StubClient

from coveo_ua_source.arguments import LoadSettings, WindowRange
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.exports.types import ExportRequest, RunnerOptions
from coveo_ua_source.exports.windows import PlannedExport, Window
from coveo_ua_source.runs.load_path import MERGE
from coveo_ua_source.runs.plan import plan_run
from coveo_ua_source.schema import TABLES

START = utc(2024, 3, 1)
DAY = timedelta(days=1)
SETTINGS = LoadSettings(
    windows=WindowRange(
        start=START,
        end=START + 3 * DAY,
        window=DAY,
        lookback=timedelta(0),
        tables=TABLES,
        settle_delay=timedelta(hours=4),
        max_exports=10,
    ),
    request=ExportRequest(),
    runner=RunnerOptions(min_window=timedelta(hours=1)),
    keep_exports=False,
    workdir=None,
    partition=False,
)
BOTH = frozenset({"searches", "clicks"})


@contextmanager
def extracting(*tables: str) -> Iterator[None]:
    """What dlt provides while it extracts a source with these table resources."""

    @dlt.source(name="unit_plan")
    def tables_source() -> Any:
        return [dlt.resource([], name=table) for table in tables]

    context = SourceInjectableContext(tables_source())
    with Container().injectable_context(context):
        yield


@pytest.fixture
def pipeline(tmp_path: Path) -> Any:
    """A DuckDB destination that holds nothing yet."""
    return dlt.pipeline(
        pipeline_name="unit_plan",
        destination=dlt.destinations.duckdb(str(tmp_path / "new.duckdb")),
        dataset_name="coveo_ua",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def days_from(start: datetime, count: int) -> list[Window]:
    return [Window(start + DAY * n, start + DAY * (n + 1)) for n in range(count)]


def test_each_table_starts_where_it_ended_and_tables_at_one_position_share_exports(
    pipeline: Any,
) -> None:
    positions: dict[str, datetime | None] = {"searches": START + DAY, "clicks": None}
    with extracting("searches", "clicks"):
        plan, dispositions = plan_run(pipeline, SETTINGS, StubClient(), BOTH, positions)
    assert plan == [
        PlannedExport(days_from(START, 1)[0], ("clicks",)),
        *(PlannedExport(window, ("searches", "clicks")) for window in days_from(START + DAY, 2)),
    ]
    assert dispositions == {"searches": "append", "clicks": "append"}, "nothing loaded overlaps"


def test_a_lookback_makes_the_table_merge(pipeline: Any) -> None:
    positions: dict[str, datetime | None] = {"searches": START + DAY, "clicks": START + DAY}
    looking_back = replace(
        SETTINGS, windows=replace(SETTINGS.windows, lookback=timedelta(hours=12))
    )
    with extracting("searches", "clicks"):
        plan, dispositions = plan_run(pipeline, looking_back, StubClient(), BOTH, positions)
    assert plan[0].window == Window(START + timedelta(hours=12), START + DAY)
    assert dispositions == {"searches": MERGE, "clicks": MERGE}


def test_only_the_tables_dlt_extracts_are_planned(pipeline: Any) -> None:
    positions: dict[str, datetime | None] = dict.fromkeys(TABLES)
    with extracting("groups"):
        plan, dispositions = plan_run(
            pipeline, SETTINGS, StubClient(), frozenset({"groups"}), positions
        )
    assert {planned.tables for planned in plan} == {("groups",)}
    assert dispositions == {"groups": "append"}


def test_partition_mode_loads_exactly_the_range_and_leaves_the_hints_alone(
    pipeline: Any,
) -> None:
    partition = replace(
        SETTINGS, partition=True, windows=replace(SETTINGS.windows, lookback=timedelta(days=1))
    )
    plan, dispositions = plan_run(pipeline, partition, StubClient(), BOTH, None)
    assert [planned.window for planned in plan] == days_from(START, 3)
    assert all(planned.tables == ("searches", "clicks") for planned in plan)
    assert dispositions is None


def test_the_plan_is_sized_with_estimates(pipeline: Any) -> None:
    busy = StubClient(row_limit=1000, rows_per_hour=lambda table: 30)  # 720 a day fits 900
    plan, _ = plan_run(pipeline, replace(SETTINGS, partition=True), busy, BOTH, None)
    assert [planned.estimates["searches"] for planned in plan] == [720, 720, 720]
    busier = StubClient(row_limit=1000, rows_per_hour=lambda table: 60)
    plan, _ = plan_run(pipeline, replace(SETTINGS, partition=True), busier, BOTH, None)
    assert len(plan) == 6, "each day halved to fit under the row limit"


def test_too_many_exports_are_refused_before_anything_is_asked(pipeline: Any) -> None:
    client = StubClient()
    at_most_two = replace(
        SETTINGS, partition=True, windows=replace(SETTINGS.windows, max_exports=2)
    )
    with pytest.raises(ConfigurationError, match="would create 3 exports, more than max_exports=2"):
        plan_run(pipeline, at_most_two, client, BOTH, None)
    assert client.estimated == []


def test_a_run_asks_the_destination_over_one_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with duckdb.connect(str(tmp_path / "held.duckdb")) as connection:
        connection.execute("CREATE SCHEMA coveo_ua")
        connection.execute(
            "CREATE TABLE coveo_ua._coveo_ua_windows "
            "(table_name TEXT, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ, "
            "_dlt_load_id TEXT)"
        )
        connection.execute(  # a partition pipeline loaded clicks up to START + 2 days
            "INSERT INTO coveo_ua._coveo_ua_windows VALUES "
            "('clicks', '2024-03-02 00:00+00', '2024-03-03 00:00+00', '1')"
        )
    pipeline = dlt.pipeline(
        pipeline_name="unit_plan_held",
        destination=dlt.destinations.duckdb(str(tmp_path / "held.duckdb")),
        dataset_name="coveo_ua",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    clients: list[Any] = []
    make_client = pipeline.sql_client

    def counted(*args: Any, **kwargs: Any) -> Any:
        clients.append(make_client(*args, **kwargs))
        return clients[-1]

    monkeypatch.setattr(pipeline, "sql_client", counted)
    positions: dict[str, datetime | None] = {"searches": START, "clicks": None}
    with extracting("searches", "clicks"):
        _, dispositions = plan_run(pipeline, SETTINGS, StubClient(), BOTH, positions)
    assert dispositions == {"searches": "append", "clicks": MERGE}, "clicks overlaps rows held"
    assert len(clients) == 1, "the repair check and the extents shared one connection"
    assert clients[0].native_connection is None, "and it was closed"
