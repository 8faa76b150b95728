"""The start of a run's extract: build exports at once, wait for the turn, plan for good.

The exports of the first plan (from the worker's local state) start before the run waits
for its dataset's turn, so their build and download overlap other runs' loads. Under the
turn the final plan is made from what the destination holds; if it differs, the exports
under way stop and the final plan's start, reattaching to those already built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.exports.runner import ExportRunner, ExportStream
from coveo_ua_source.runs.holdings import destination_view
from coveo_ua_source.runs.plan import (
    PlanInputs,
    RunPlan,
    final_plan,
    first_plan,
    positions_from_state,
)
from coveo_ua_source.runs.turns import Coordination, take_turn


@dataclass(frozen=True)
class StartedRun:
    """A run under its turn: its final plan, and the stream of that plan's exports."""

    plan: RunPlan
    stream: ExportStream
    runner: ExportRunner


def start_run(
    pipeline: Any,
    inputs: PlanInputs,
    client: CoveoClient,
    runner: ExportRunner,
    local_state: Mapping[str, Any] | None,
    coordination: Coordination,
) -> StartedRun:
    """Start the first plan's exports, take the turn, and make the final plan.

    ``local_state``: the worker's source state (None in partition mode).
    """
    local = None if local_state is None else positions_from_state(local_state, inputs.tables)
    first = first_plan(inputs, client, local)
    runner.book.treat_as_loaded(local)
    stream = runner.run(first.sized)
    try:
        take_turn(pipeline, coordination)
        with destination_view(pipeline) as view:
            plan = final_plan(view, inputs, client, local_state, first)
        runner.book.treat_as_loaded(plan.positions)
        if plan.exports != stream.plan:
            stream.close()
            _delete_unplanned(runner, plan)
            runner = runner.sibling()
            stream = runner.run(plan.exports)
    except BaseException:
        stream.close()
        raise
    return StartedRun(plan, stream, runner)


def _delete_unplanned(runner: ExportRunner, plan: RunPlan) -> None:
    """Delete the exports the first plan started that the final plan does not need
    (another run loaded those windows meanwhile)."""
    needed = {(planned.window, planned.tables) for planned in plan.exports}
    for export_id, planned in list(runner.touched.items()):
        if (planned.window, planned.tables) not in needed:
            runner.book.delete(export_id)
