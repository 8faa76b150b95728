"""A process that ran the source leaves its objects out of the exit's garbage collections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_RUN = """
import atexit
import gc
import sys
from datetime import datetime, timezone

# registered first, so it runs last: after the source's handler
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count()))

import dlt
from coveo_ua_simulator import Simulator
from coveo_ua_source import coveo_ua_source

folder, run_source = sys.argv[1], sys.argv[2] == "run"
with Simulator() as simulator:
    pipeline = dlt.pipeline(
        pipeline_name="exit_check",
        destination=dlt.destinations.duckdb(f"{folder}/exit.duckdb"),
        pipelines_dir=f"{folder}/pipelines",
    )
    if run_source:
        pipeline.run(
            coveo_ua_source(
                access_token=simulator.config.token,
                base_url=simulator.api_root,
                start_date=datetime(2024, 3, 1, tzinfo=timezone.utc),
                end_date=datetime(2024, 3, 1, 6, tzinfo=timezone.utc),
                poll_interval=0.01,
            )
        ).raise_on_failed_jobs()
        print("loaded:", pipeline.dataset().row_counts().fetchall() != [])
print("frozen before exit:", gc.get_freeze_count())
"""


def _run(tmp_path: Path, how: str) -> list[str]:
    ran = subprocess.run(
        [sys.executable, "-c", _RUN, str(tmp_path), how],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran.stdout.splitlines()


def test_a_run_freezes_the_objects_alive_at_exit_only(tmp_path: Path) -> None:
    lines = _run(tmp_path, "run")
    assert "loaded: True" in lines
    assert "frozen before exit: 0" in lines  # nothing changes while the process runs
    frozen = int(lines[-1].removeprefix("frozen at exit: "))
    assert frozen > 10_000  # dlt's, pyarrow's and the connector's objects


def test_a_process_that_never_ran_the_source_exits_as_python_does(tmp_path: Path) -> None:
    assert _run(tmp_path, "import only")[-1] == "frozen at exit: 0"
