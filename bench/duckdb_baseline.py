"""Case (c), the baseline: raw DuckDB ``CREATE TABLE AS SELECT * FROM read_csv(...)``.

One table per extracted CSV (bench.run extracts them from the zip beforehand; that time
is not counted), DuckDB's own type detection, a fresh database file. No dlt is imported,
so the process's RSS is DuckDB's.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from bench.common import DATASET, Result, Spec, case_main


def run(spec: Spec) -> Result:
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "baseline.duckdb"
    csvs: dict[str, str] = spec["csvs"]
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    with duckdb.connect(str(database)) as con:
        con.execute(f"CREATE SCHEMA {DATASET}")
        for table, path in csvs.items():
            table_began = time.perf_counter()
            con.execute(
                f"CREATE TABLE {DATASET}.{table} AS "  # noqa: S608  # names are ours
                "SELECT * FROM read_csv(?, header = true)",
                [path],
            )
            seconds[table] = round(time.perf_counter() - table_began, 3)
        wall = time.perf_counter() - began
        counts = {
            table: int(con.execute(f"SELECT count(*) FROM {DATASET}.{table}").fetchall()[0][0])  # noqa: S608
            for table in csvs
        }
    return {
        "wall_s": round(wall, 3),
        "steps": seconds,
        "rows_by_table": counts,
        "rows": sum(counts.values()),
    }


if __name__ == "__main__":
    case_main(run)
