"""One run's plan (runs/plan.py): which windows, for which tables, sized, appended or
merged; the first plan from the worker's state, the final one from what the destination
holds. A stub client for the estimates and a stub of the destination's answers: no export
is created and nothing is loaded (the plan over a real destination: tests/runs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from helpers.plans import DAY, INPUTS, START, WINDOWS
from helpers.stub_client import StubClient

from coveo_ua_source.dates import Window
from coveo_ua_source.dlt_internals import CommittedState
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.exports.windows import PlannedExport
from coveo_ua_source.runs.holdings import DestinationView, LoadedWindows
from coveo_ua_source.runs.plan import final_plan, first_plan


class Holding(DestinationView):
    """A destination's answers, given: its committed state and the earliest rows."""

    def __init__(
        self, state: Mapping[str, Any] | None = None, earliest: Mapping[str, datetime] | None = None
    ) -> None:
        super().__init__(None, "unit_plan")
        self.state = state
        self.earliest = {} if earliest is None else dict(earliest)

    def committed_state(self) -> CommittedState | None:
        return None if self.state is None else CommittedState(1, self.state)

    def earliest_rows(self, starts: Mapping[str, datetime]) -> dict[str, datetime] | None:
        return {t: e for t, e in self.earliest.items() if t in starts and e >= starts[t]}

    def loaded_windows(self, since: datetime | None) -> LoadedWindows:
        return LoadedWindows({}, None)


def state_at(**positions: datetime) -> dict[str, Any]:
    """A source state whose tables ended at ``positions``."""
    return {"resources": {t: {"last_end": end.isoformat()} for t, end in positions.items()}}


def days_from(start: datetime, count: int) -> list[Window]:
    return [Window(start + DAY * n, start + DAY * (n + 1)) for n in range(count)]


def test_each_table_starts_where_it_ended_and_tables_at_one_position_share_exports() -> None:
    plan = final_plan(Holding(state_at(searches=START + DAY)), INPUTS, StubClient(), None)
    assert plan.exports == [
        PlannedExport(days_from(START, 1)[0], ("clicks",)),
        *(PlannedExport(window, ("searches", "clicks")) for window in days_from(START + DAY, 2)),
    ]
    assert plan.positions == {"searches": START + DAY, "clicks": None}
    assert plan.appending == {"searches", "clicks"}, "nothing loaded overlaps"


def test_a_lookback_makes_the_table_merge() -> None:
    looking_back = replace(INPUTS, windows=replace(WINDOWS, lookback=timedelta(hours=12)))
    holding = Holding(state_at(searches=START + DAY, clicks=START + DAY))
    plan = final_plan(holding, looking_back, StubClient(), None)
    assert plan.exports[0].window == Window(START + timedelta(hours=12), START + DAY)
    assert plan.appending == frozenset()


def test_rows_already_in_a_planned_window_make_the_table_merge() -> None:
    """Rows of a partition pipeline, or of a load that did not complete, after where the
    committed state says the table ended."""
    holding = Holding(state_at(searches=START, clicks=START), {"clicks": START + DAY})
    plan = final_plan(holding, INPUTS, StubClient(), None)
    assert plan.appending == {"searches"}


def test_the_destinations_committed_state_wins_over_the_workers() -> None:
    ahead = state_at(searches=START + 2 * DAY, clicks=START + 2 * DAY)  # a dropped package
    plan = final_plan(Holding(state_at(searches=START + DAY)), INPUTS, StubClient(), ahead)
    assert plan.positions == {"searches": START + DAY, "clicks": None}
    nothing = final_plan(Holding({}), INPUTS, StubClient(), ahead)
    assert nothing.positions == {"searches": None, "clicks": None}, "the destination holds none"
    unknown = final_plan(Holding(None), INPUTS, StubClient(), ahead)
    assert unknown.positions == {"searches": START + 2 * DAY, "clicks": START + 2 * DAY}, (
        "only a destination that keeps no state leaves the worker's"
    )


def test_a_refreshed_run_plans_from_its_reset_state() -> None:
    refreshed = replace(INPUTS, refreshed=True)
    plan = final_plan(Holding(state_at(searches=START + DAY)), refreshed, StubClient(), {})
    assert plan.positions == {"searches": None, "clicks": None}


def test_only_the_tables_dlt_extracts_are_planned() -> None:
    groups = replace(INPUTS, readers=frozenset({"groups"}))
    plan = final_plan(Holding({}), groups, StubClient(), None)
    assert {planned.tables for planned in plan.exports} == {("groups",)}
    assert plan.appending == {"groups"}


def test_partition_mode_loads_exactly_the_range_and_asks_the_destination_nothing() -> None:
    partition = replace(
        INPUTS, partition=True, windows=replace(WINDOWS, lookback=timedelta(days=1))
    )
    plan = final_plan(Holding(state_at(searches=START + DAY)), partition, StubClient(), None)
    assert [planned.window for planned in plan.exports] == days_from(START, 3)
    assert all(planned.tables == ("searches", "clicks") for planned in plan.exports)
    assert plan.positions is None
    assert plan.appending == frozenset()


def test_the_plan_is_sized_with_estimates() -> None:
    busy = StubClient(row_limit=1000, rows_per_hour=lambda table: 30)  # 720 a day fits 900
    plan = first_plan(replace(INPUTS, partition=True), busy, None)
    assert [planned.estimates["searches"] for planned in plan.sized] == [720, 720, 720]
    busier = StubClient(row_limit=1000, rows_per_hour=lambda table: 60)
    plan = first_plan(replace(INPUTS, partition=True), busier, None)
    assert len(plan.sized) == 6, "each day halved to fit under the row limit"


def test_the_final_plan_reuses_the_first_plans_estimates_when_they_agree() -> None:
    client = StubClient()
    first = first_plan(INPUTS, client, {"searches": START + DAY, "clicks": START})
    asked = len(client.estimated)
    same = final_plan(
        Holding(state_at(searches=START + DAY, clicks=START)), INPUTS, client, None, first
    )
    assert same.exports == first.sized
    assert len(client.estimated) == asked, "not asked again"
    moved = state_at(searches=START + 2 * DAY, clicks=START + 2 * DAY)
    other = final_plan(Holding(moved), INPUTS, client, None, first)
    assert other.exports != first.sized
    assert len(client.estimated) > asked, "another worker moved the positions: asked anew"


def test_too_many_exports_are_refused_before_anything_is_asked() -> None:
    client = StubClient()
    at_most_two = replace(INPUTS, partition=True, windows=replace(WINDOWS, max_exports=2))
    with pytest.raises(
        ConfigurationError, match="has 3 exports, more than max_exports=2, so none was created"
    ):
        first_plan(at_most_two, client, None)
    assert client.estimated == []
