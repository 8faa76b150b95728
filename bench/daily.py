"""The daily case: one day of a mid-size organization, loaded the way a user loads it.

``pipeline.run(coveo_ua_source(...))`` into a fresh DuckDB file, against a simulator
process over loopback, with nothing tuned: no dlt setting set by the benchmark, the
source's defaults but where it must be pointed (token, API root, the day, its export
folder) and ``keep_exports`` (so that every measured run reattaches to the export the
warm-up built: the simulator builds an export's zip lazily, inside its first download,
and that build is the simulator's time, not the connector's).

The imports are timed here, before dlt or the connector is imported; bench.stages splits
the rest by stage. ``spec["warm_up"]``: the extract step alone, to have the export built.
"""

from __future__ import annotations

import time

_BEGAN = time.perf_counter()  # before this process imports dlt or the connector

from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import Result, Spec, case_main, loaded_counts  # noqa: E402
from bench.stages import Probes, cpu_seconds, install  # noqa: E402

PIPELINE_NAME = "coveo_ua_daily"  # the same for the warm-up and the runs: the export's scope
DATABASE = "daily.duckdb"


def run(spec: Spec) -> Result:
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    mark = _Marker(stages, cpu)
    import dlt

    mark("import dlt")
    from coveo_ua_source import coveo_ua_source

    mark("import coveo_ua_source (after dlt)")
    probes = Probes()
    install(probes)
    mark("bench: probes installed (not the connector's)")
    workdir = Path(spec["workdir"])
    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(str(workdir / DATABASE)),
        dataset_name="usage_analytics",
        pipelines_dir=str(workdir / "pipelines"),
    )
    source = coveo_ua_source(
        access_token=spec["token"],
        base_url=spec["api_root"],
        start_date=datetime.fromisoformat(spec["start"]),
        end_date=datetime.fromisoformat(spec["end"]),
        workdir=spec["exports_dir"],
        keep_exports=True,
        **({"poll_interval": 0.05} if spec.get("warm_up") else {}),
    )
    mark("dlt set-up: pipeline and source")
    if spec.get("warm_up"):
        pipeline.extract(source)
        mark("warm-up extract")
        return {"wall_s": round(time.perf_counter() - _BEGAN, 3), "stages": stages}
    pipeline.run(source).raise_on_failed_jobs()
    mark("pipeline.run")
    result = _result(stages, cpu, probes)
    counts = loaded_counts(pipeline)
    result.update(rows_by_table=counts, rows=sum(counts.values()))
    return result


class _Marker:
    """Charges the time and CPU since the last mark to a stage."""

    def __init__(self, stages: dict[str, float], cpu: dict[str, float]) -> None:
        self.stages, self.cpu = stages, cpu
        self.last, self.last_cpu = _BEGAN, 0.0  # CPU from the interpreter's start

    def __call__(self, stage: str) -> None:
        now, used = time.perf_counter(), cpu_seconds()
        self.stages[stage] = round(now - self.last, 3)
        self.cpu[stage] = round(used - self.last_cpu, 3)
        self.last, self.last_cpu = now, used


def _result(stages: dict[str, float], cpu: dict[str, float], probes: Probes) -> Result:
    """Every stage in order: imports, set-up, each step split by the probes, the rest."""
    run_wall = stages.pop("pipeline.run")
    run_cpu = cpu.pop("pipeline.run")
    split: dict[str, float] = dict(stages)
    by_step = {step: probes.steps.get(step, {}) for step in ("extract", "normalize", "load")}
    in_steps, overlapping = 0.0, []
    for step, figures in by_step.items():
        step_wall = figures.get("wall_s", 0.0)
        in_steps += step_wall
        inner = _probed(probes, step)
        split.update(inner)
        rest = step_wall - sum(inner.values())
        if rest >= 0:
            split[f"{step}: the rest (dlt's item handling, waits)"] = round(rest, 3)
        else:  # jobs in parallel threads: their seconds add up to more than the step's
            overlapping.append(step)
    outside = _probed(probes, "run")
    split.update(outside)
    split["run: the rest (dlt: destination sync, state, trace)"] = round(
        run_wall - in_steps - sum(outside.values()), 3
    )
    return {
        "wall_s": round(time.perf_counter() - _BEGAN, 3),
        "stages": split,
        "cpu_s": {**cpu, "pipeline.run": run_cpu},
        "steps": {step: figures.get("wall_s", 0.0) for step, figures in by_step.items()},
        "step_figures": by_step,
        "calls": dict(probes.calls),
        "overlapping_steps": overlapping,
    }


def _probed(probes: Probes, step: str) -> dict[str, float]:
    """The probes' seconds of one step's stages (named ``"<step>: ..."``)."""
    return {
        stage: round(seconds, 3)
        for stage, seconds in probes.seconds.items()
        if stage.startswith(f"{step}: ")
    }


if __name__ == "__main__":
    case_main(run)
