"""The printed report of the daily case: both sides, the connector's stages, the check."""

from __future__ import annotations

import statistics
from typing import Any

Results = dict[str, Any]
_SIDES = (
    "connector: pipeline.run(coveo_ua_source(...)) over HTTP from a simulator process, "
    "nothing tuned; raw DuckDB: CREATE TABLE AS SELECT * FROM read_csv(...) on the "
    "extracted CSVs; each in its own process, interleaved"
)


def render(results: Results) -> list[str]:
    cases: dict[str, Results] = results["cases"]
    data = results["dataset"]
    connector, duckdb = cases["daily"], cases.get("daily_c", {})
    lines = [
        f"Daily case: {data['start']} to {data['end']}, {data['rows'].get('searches', 0):,} "
        f"searches, {data['total_rows']:,} rows in 5 tables "
        f"({', '.join(f'{t} {n:,}' for t, n in data['rows'].items())}); zip "
        f"{data['zip_bytes'] / 1e6:.0f} MB, CSV {data['csv_bytes'] / 1e6:.0f} MB",
        f"{_SIDES}; medians of {len(connector.get('repeats', [connector]))} runs",
        "",
    ]
    if "error" in connector or "error" in duckdb:
        failed = connector if "error" in connector else duckdb
        return [*lines, f"FAILED: {str(failed.get('error'))[-800:]}"]
    lines += _sides(connector, duckdb)
    lines += ["", "Stages of the connector (median of each stage over the runs; s):"]
    lines += _stages(connector)
    lines += ["", *_check(connector)]
    return lines


def _sides(connector: Results, duckdb: Results) -> list[str]:
    rows = [
        ("whole process, wall s", "median_process_wall_s", "{:.2f}"),
        ("whole process, CPU s", "median_process_cpu_s", "{:.2f}"),
        ("peak RSS MB (kernel VmHWM)", "median_process_peak_rss_mb", "{:.0f}"),
    ]
    lines = [f"{'':<28} {'connector':>10} {'raw DuckDB':>11} {'ratio':>6}", "-" * 58]
    for label, key, form in rows:
        top, bottom = connector.get(key), duckdb.get(key)
        if top is None or bottom is None:
            continue
        ratio = f"{top / bottom:.2f}" if bottom else "-"
        lines.append(f"{label:<28} {form.format(top):>10} {form.format(bottom):>11} {ratio:>6}")
    lines.append(
        f"{'rows loaded':<28} {connector.get('rows', 0):>10,} {duckdb.get('rows', 0):>11,}"
    )
    walls = ", ".join(f"{run['process_wall_s']:.2f}" for run in connector.get("repeats", []))
    base = ", ".join(f"{run['process_wall_s']:.2f}" for run in duckdb.get("repeats", []))
    if walls:
        lines.append(f"runs, wall s: connector {walls}; raw DuckDB {base}")
    return lines


def _stages(connector: Results) -> list[str]:
    """Each stage's median over the runs, in the order of the run, with the step totals."""
    repeats = connector.get("repeats", [connector])
    runs = [run["stages"] for run in repeats if "stages" in run]
    names = list(dict.fromkeys(name for stages in runs for name in stages))
    medians = {name: statistics.median(s.get(name, 0.0) for s in runs) for name in names}
    lines = []
    for name, seconds in medians.items():
        lines.append(f"  {name:<66} {seconds:7.3f}")
    overlapping = connector.get("overlapping_steps")
    if overlapping:
        lines.append(f"  ({', '.join(overlapping)}: jobs ran in parallel threads; their "
                     "seconds are summed, so they add up to more than the step)")  # fmt: skip
    outside = statistics.median(run["process_wall_s"] - run["wall_s"] for run in repeats)
    if outside is not None:
        lines.append(f"  {'interpreter start and exit, result file (process wall - case)':<66} "
                     f"{outside:7.3f}")  # fmt: skip
    figures = connector.get("step_figures", {})
    steps = ", ".join(
        f"{step} {f.get('wall_s', 0):.2f} s (CPU {f.get('cpu_s', 0):.2f} s, peak RSS so far "
        f"{f.get('peak_rss_mb', 0):.0f} MB)"
        for step, f in figures.items()
    )
    lines.append(f"  steps of the median run: {steps}")
    cpu = connector.get("cpu_s", {})
    if cpu:
        lines.append(
            "  CPU s of the median run: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
        )
    calls = connector.get("calls", {})
    capabilities = sum(n for k, n in calls.items() if k.endswith("capabilities() resolved"))
    downloads = calls.get("extract: download (its own thread)", 0)
    lines.append(
        f"  calls: destination capabilities() {capabilities}, export downloads {downloads}"
    )
    return lines


def _check(connector: Results) -> list[str]:
    check = connector.get("check")
    if not check:
        return ["ground truth: not checked"]
    verdict = "every run matches" if check.get("ok") else "MISMATCH"
    parts = [
        f"{table} {found['rows']:,}/{found['truth_rows']:,}"
        for table, found in check.get("tables", {}).items()
    ]
    return [
        f"ground truth (rows, identifiers, timestamps per table; loaded/true): {verdict}; "
        + ", ".join(parts)
    ]
