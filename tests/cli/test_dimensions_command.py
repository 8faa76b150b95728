"""`coveo-ua dimensions`: the exportable dimensions and what the pipeline loaded."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import START, TOKEN, make_source

from coveo_ua_simulator import Simulator
from coveo_ua_simulator.dimensions import CUSTOM_DIMENSIONS
from coveo_ua_source.cli.main import main


def run_dimensions(simulator: Simulator, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    code = main(["dimensions", "--base-url", simulator.api_root, *options])
    output = capsys.readouterr().out
    assert code == 0, output
    return output


def test_dimensions_json_lists_every_dimension_and_how_it_was_loaded(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", TOKEN)
    pipeline = make_pipeline("coveo_ua_dims")
    one_day = make_source(simulator, tables=["custom_events"], end_date=START + timedelta(days=1))
    pipeline.run(one_day).raise_on_failed_jobs()
    pipes = str(tmp_path / "pipelines")
    output = run_dimensions(
        simulator, capsys, "--json", "--pipeline-name", "coveo_ua_dims", "--pipelines-dir", pipes
    )
    rows = {row["return_name"]: row for row in json.loads(output)}
    for dimension in CUSTOM_DIMENSIONS:
        row = rows[dimension.return_name]
        assert row["type"] == dimension.coveo_type
        assert row["custom"] is True
    cart = rows["custom_events.c_cart_value"]
    assert cart["loads_as"] == "double"
    assert cart["loaded"] == {"c_cart_value": "double"}
    assert cart["event_types"] == ["CUSTOM_EVENT"]
    assert rows["custom_events.c_ordered_at"]["loaded"] == {"c_ordered_at": "timestamp"}
    assert rows["custom_events.customeventid"]["loaded"] == {"custom_event_id": "text"}
    assert rows["custom_events.customeventid"]["custom"] is False
    assert rows["searches.numberofresults"]["loads_as"] == "bigint", "the catalog's type"
    assert rows["searches.c_page_number"]["loaded"] == {}, "searches were not loaded"
    assert rows["searches.c_page_number"]["loads_as"] == "bigint"


def test_dimensions_table_without_a_pipeline(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("COLUMNS", "200")
    output = run_dimensions(simulator, capsys, "--pipeline-name", "never_run_here")
    assert "Exportable dimensions" in output
    assert "custom_events.c_delivery_date" in output
    assert "DATE" in output
