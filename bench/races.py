"""Runs that overlap, as users start them: real interpreters, real timing, many rounds.

    python -m bench.races --scenario two-machines --rounds 5 [--postgres URL]

Each round starts a fresh simulator (its own process) and the scenario's jobs as separate
``python`` processes, each on a "machine" of its own (its own ``DLT_DATA_DIR``), loading
through ``coveo_ua_source.orchestration`` into one dataset; then it prints, per table,
the rows the simulator's ground truth holds, the rows loaded and the duplicated keys,
the jobs' exit codes and the exports left on the service. The test suite's race test
(tests/runs/test_races.py) checks the same with forked processes; this is the long run.

With ``--build-delay S`` every export takes S seconds to build, as Coveo's do: the
rounds' durations then show whether builds overlap other runs' loads.

Scenarios (PostgreSQL unless the name says DuckDB):

- ``two-machines``: the incremental pipeline started twice, 1 s apart;
- ``two-machines-at-once``: the same, 0 s apart;
- ``parallel-backfill``: four partitions at once beside the incremental pipeline;
- ``lookback-beside-partition``: after a first load, an incremental run that looks back a
  day (it merges) while a partition of the same days loads;
- ``duckdb-partitions``: three partitions at once into one DuckDB file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.simproc import SimulatorProcess
from coveo_ua_simulator import SimulatorConfig, ground_truth
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.schema import TABLES, primary_key

TOKEN = SimulatorConfig().token  # bench.simproc starts the simulator with its default token
START = "2024-03-01"
WORKER = """
import json, sys, time
job = json.loads(sys.argv[1])
time.sleep(job["delay"])
from coveo_ua_source.orchestration import load_incremental, load_partition
options = job.get("options", {})
if job["kind"] == "partition":
    load_partition(job["destination"], job["start"], job["end"], dataset_name=job["dataset"],
                   source_options=options)
else:
    load_incremental(job["destination"], pipeline_name="coveo_ua", dataset_name=job["dataset"],
                     end_date=job["end"], source_options=options)
"""


@dataclass(frozen=True)
class Job:
    kind: str
    end: str
    delay: float = 0.0
    start: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def scenario(name: str) -> tuple[list[list[Job]], str, bool]:
    """The scenario's job batches (each batch races; batches run one after another),
    the exclusive end of what is loaded, and whether it loads into DuckDB."""
    incremental = Job("incremental", "2024-03-05")
    days = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]
    partitions = [Job("partition", days[n + 1], start=days[n]) for n in range(4)]
    if name == "two-machines":
        return [[incremental, Job("incremental", "2024-03-05", delay=1.0)]], days[-1], False
    if name == "two-machines-at-once":
        return [[incremental, incremental]], days[-1], False
    if name == "parallel-backfill":
        return [[*partitions, incremental]], days[-1], False
    if name == "lookback-beside-partition":
        first = [Job("incremental", "2024-03-04")]
        looking_back = Job("incremental", "2024-03-05", options={"lookback": "P2D"})
        partition = Job("partition", "2024-03-05", start="2024-03-03", delay=0.5)
        return [first, [looking_back, partition]], days[-1], False
    if name == "duckdb-partitions":
        return [partitions[:3]], days[3], True
    raise SystemExit(f"unknown scenario {name!r}")


SCENARIOS = (
    "two-machines", "two-machines-at-once", "parallel-backfill", "lookback-beside-partition",
    "duckdb-partitions",
)  # fmt: skip


def run_round(
    name: str, postgres: str | None, root: Path, build_delay: float = 0.0
) -> dict[str, Any]:
    batches, end, duckdb = scenario(name)
    dataset = f"race_{uuid.uuid4().hex[:8]}"
    database = root / "warehouse.duckdb"
    if duckdb:
        env = {"DESTINATION__DUCKDB__CREDENTIALS": str(database)}
    elif postgres:
        env = {"DESTINATION__POSTGRES__CREDENTIALS": postgres}
    else:
        raise SystemExit(f"{name} loads into PostgreSQL: pass --postgres URL")
    config = SimulatorConfig(token=TOKEN, searches_per_hour=20, build_delay=build_delay)
    base = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", **env}
    with SimulatorProcess(config, root / "simulator.log", base) as simulator:
        base.update(
            SOURCES__COVEO_UA__ACCESS_TOKEN=TOKEN, SOURCES__COVEO_UA__BASE_URL=simulator.api_root,
            SOURCES__COVEO_UA__START_DATE=START, SOURCES__COVEO_UA__POLL_INTERVAL="0.05",
        )  # fmt: skip
        codes: list[int] = []
        started = time.monotonic()
        for number, batch in enumerate(batches):
            codes += _race(batch, "duckdb" if duckdb else "postgres", dataset, base,
                           root / f"batch-{number}")  # fmt: skip
        seconds = time.monotonic() - started
        live = CoveoClient(TOKEN, base_url=simulator.api_root).list_exports()
    counts = _counts(database if duckdb else postgres, dataset, end)
    if not duckdb:
        _drop(postgres, dataset)
    return {"codes": codes, "seconds": round(seconds, 1), "live_exports": len(live), **counts}


def _race(jobs: Sequence[Job], destination: str, dataset: str, env: dict[str, str],
          folder: Path) -> list[int]:  # fmt: skip
    processes = []
    for number, job in enumerate(jobs):
        machine = folder / f"machine-{number}"
        machine.mkdir(parents=True)
        order = {**job.__dict__, "destination": destination, "dataset": dataset}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, json.dumps(order)],
                env={**env, "DLT_DATA_DIR": str(machine / "dlt")},
                cwd=machine,
                stdout=subprocess.DEVNULL,
                stderr=(machine / "stderr").open("w"),
            )
        )
    return [process.wait(timeout=600) for process in processes]


def _counts(where: Any, dataset: str, end: str) -> dict[str, Any]:
    start = datetime.fromisoformat(START).replace(tzinfo=UTC)
    stop = datetime.fromisoformat(end).replace(tzinfo=UTC)
    config = SimulatorConfig(token=TOKEN, searches_per_hour=20)
    tables: dict[str, Any] = {}
    for table in TABLES:
        keys = ", ".join(primary_key(table))
        loaded, distinct = _query(
            where,
            f"SELECT count(*), count(DISTINCT ({keys})) FROM {dataset}.{table}",  # noqa: S608
        )
        expected = len(ground_truth(config, table, start, stop))
        tables[table] = {"expected": expected, "loaded": loaded, "duplicated": loaded - distinct}
    return {"tables": tables, "exact": all(
        t["expected"] == t["loaded"] and not t["duplicated"] for t in tables.values())}  # fmt: skip


def _query(where: Any, sql: str) -> tuple[int, int]:
    if isinstance(where, Path):
        import duckdb

        with duckdb.connect(str(where), read_only=True) as connection:
            row = connection.execute(sql).fetchall()[0]
    else:
        import psycopg2

        with psycopg2.connect(where) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
    return int(row[0]), int(row[1])


def _drop(url: Any, dataset: str) -> None:
    import psycopg2

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        for schema in (dataset, f"{dataset}_staging"):
            cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("COVEO_UA_TEST_POSTGRES"))
    parser.add_argument(
        "--build-delay", type=float, default=0.0, help="seconds the simulator builds an export"
    )
    args = parser.parse_args(argv)
    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    wrong = 0
    for name in names:
        for number in range(1, args.rounds + 1):
            with tempfile.TemporaryDirectory(prefix="race-") as root:
                result = run_round(name, args.postgres, Path(root), args.build_delay)
            wrong += not result["exact"] or any(result["codes"]) or result["live_exports"]
            print(json.dumps({"scenario": name, "round": number, **result}), flush=True)
    print(f"rounds not exact, failed or leaving exports: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
