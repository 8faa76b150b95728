"""Append when new, merge when overlapping: both paths against ground truth (the decision
itself: test_unit_load_path.py; rows of a partition pipeline making the incremental run
merge: test_orchestration.py, which loads partitions for other tests too)."""

from __future__ import annotations

from collections.abc import Callable

from dlt.pipeline.pipeline import Pipeline
from helpers.load_path import load_sequence

from coveo_ua_source.simulator import Simulator


def test_appends_new_windows_and_merges_a_lookback_on_duckdb(
    simulator: Simulator, make_pipeline: Callable[..., Pipeline]
) -> None:
    used = load_sequence(simulator, make_pipeline("coveo_ua_load_path"))
    assert used == [{"append"}, {"merge"}, {"append"}]
