"""Functions that tests run in a forked process (``forked.start("helpers.targets:NAME")``).

Each takes the process's arguments and returns its exit code, like ``cli.main.main``.
"""

from __future__ import annotations

import runpy
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from coveo_ua_source import pipeline_lock
from coveo_ua_source.cli.main import main


def hold_pipeline_lock(argv: Sequence[str]) -> int:
    """Hold the lock of pipeline ``argv[0]`` in pipelines folder ``argv[1]`` until killed."""
    with pipeline_lock(argv[0], argv[1]):
        print("held", flush=True)
        time.sleep(120)  # bounded: a holder whose test died does not stay forever
    return 0


def hold_dataset_turn(argv: Sequence[str]) -> int:
    """Hold the turn of dataset ``argv[1]`` until killed: in the DuckDB file ``argv[0]``, or
    in PostgreSQL when ``argv[0]`` is ``postgres`` (credentials from the environment)."""
    import dlt

    from coveo_ua_source.runs.turns import Coordination, take_turn

    postgres = argv[0] == "postgres"
    pipeline = dlt.pipeline(
        pipeline_name="turn_holder",
        destination="postgres" if postgres else dlt.destinations.duckdb(argv[0]),
        dataset_name=argv[1],
        pipelines_dir=str(Path.cwd() / "holder_pipelines"),
    )
    take_turn(pipeline, Coordination("auto", 60))
    print("held", flush=True)
    time.sleep(120)  # bounded: a holder whose test died does not stay forever
    return 0


def orchestrated(argv: Sequence[str]) -> int:
    """A scheduler's task: ``argv[0]`` is a JSON job (see ``helpers.races``), started after
    its ``delay`` in seconds."""
    import json

    from coveo_ua_source.orchestration import load_incremental, load_partition

    job = json.loads(argv[0])
    time.sleep(job["delay"])
    options = job.get("options", {})
    if job["kind"] == "partition":
        load_partition(job["destination"], job["start"], job["end"],
                       dataset_name=job["dataset"], source_options=options)  # fmt: skip
    else:
        load_incremental(job["destination"], pipeline_name=job["pipeline"],
                         dataset_name=job["dataset"], end_date=job["end"],
                         source_options=options)  # fmt: skip
    return 0


def cli_taking_ctrl_c(argv: Sequence[str]) -> int:
    """`coveo-ua` as started from an interactive shell: SIGINT raises KeyboardInterrupt.

    A shell starts a background job (`make test &`) with SIGINT ignored, and an ignored
    signal stays ignored in every child: the CLI would never see its Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return main(argv)


def run_script(argv: Sequence[str]) -> int:
    """``python SCRIPT ARGS...``: the script's folder first on sys.path, run as __main__."""
    script = Path(argv[0]).resolve()
    sys.argv = [str(script), *argv[1:]]
    sys.path.insert(0, str(script.parent))
    runpy.run_path(str(script), run_name="__main__")
    return 0
