"""A run's final plan reads the destination over one connection, and closes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from helpers.plans import INPUTS
from helpers.stub_client import StubClient

from coveo_ua_source.runs.holdings import destination_view
from coveo_ua_source.runs.plan import final_plan


def test_a_run_asks_the_destination_over_one_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with duckdb.connect(str(tmp_path / "held.duckdb")) as connection:
        connection.execute("CREATE SCHEMA coveo_ua")
        connection.execute("CREATE TABLE coveo_ua.clicks (click_id TEXT, datetime TIMESTAMPTZ)")
        connection.execute(  # a partition pipeline loaded clicks of the second day
            "INSERT INTO coveo_ua.clicks VALUES ('c', '2024-03-02 10:00+00')"
        )
    pipeline = dlt.pipeline(
        pipeline_name="unit_plan_held",
        destination=dlt.destinations.duckdb(str(tmp_path / "held.duckdb")),
        dataset_name="coveo_ua",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    clients: list[Any] = []
    make_client = pipeline.destination_client

    def counted(*args: Any, **kwargs: Any) -> Any:
        clients.append(make_client(*args, **kwargs))
        return clients[-1]

    monkeypatch.setattr(pipeline, "destination_client", counted)
    with destination_view(pipeline) as view:
        plan = final_plan(view, INPUTS, StubClient(), None)
    assert plan.appending == {"searches"}, "clicks overlaps the rows held"
    assert len(clients) == 1, "the state, the repair check and the rows shared one connection"
    assert clients[0].sql_client.native_connection is None, "and it was closed"
