"""``python -m bench.run --rows N``: generate the data, run every case, print the report.

Every case runs in its own process (see bench/__init__.py) with a timeout, in a fresh
directory (pipelines_dir and DuckDB file) under a temporary folder of ``--out``, which
is removed at the end unless ``--keep``. The results go to ``<out>/results.json``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import daily, dataset, report
from bench.runner import ROOT, TUNING_PREFIXES, Case, CaseRunner, child_env, say
from bench.simproc import SimulatorProcess, served_zip
from bench.truth_check import TruthCheck
from coveo_ua_source import settings

DEFAULT_OUT = ROOT / "bench" / "out"
# One day of a mid-size organization: about 1.4M rows over the five tables.
DAILY_ROWS = 200_000
# The simulator's default token, which the benchmark never changes.
TOKEN = dataset.sim_config(1).token


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    add = parser.add_argument
    add("--rows", type=int, help="searches rows (other tables follow); default 1,000,000")
    add("--cases", default="abcde", help="which of the cases a-e to run (default: all)")
    add(
        "--daily",
        action="store_true",
        help="only the daily case: one day of --rows searches (default 200,000), loaded by "
        "pipeline.run against raw DuckDB, runs interleaved",
    )
    add("--rss-scaling", action="store_true", help="also measure extract RSS at 4x rows")
    add(
        "--bad-dimension-rate",
        type=float,
        default=dataset.REALISTIC_BAD_RATE,
        help="share of custom dimension values that do not parse (default %(default)g)",
    )
    add(
        "--high-rate",
        action="store_true",
        help="also run b on data where ~1 in 5 custom dimension values does not parse",
    )
    add("--dict-fraction", type=int, default=10, help="case d reads 1/N of the rows")
    add("--windows", type=int, default=12, help="backfill windows (case e)")
    add("--build-delay", type=float, default=2.0, help="seconds per export (case e)")
    add("--backfill-searches-per-hour", type=int, default=1000, help="case e data size")
    add("--backfill-poll-interval", type=float, default=1.0, help="case e poll_interval")
    add("--out", type=Path, default=DEFAULT_OUT, help="results.json and temporary data")
    add("--keep", action="store_true", help="keep the generated data and case folders")
    add("--repeat", type=int, default=3, help="runs of a, b, c each (median reported)")
    add("--profile", action="store_true", help="cProfile the extract step of b")
    add("--timeout-scale", type=float, default=1.0, help="multiply every case timeout")
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = DAILY_ROWS if args.daily else 1_000_000
    unknown = set(args.cases) - set("abcde")
    if unknown or min(args.rows, args.dict_fraction, args.windows, args.repeat) < 1:
        parser.error("--cases takes letters a-e; --rows, --dict-fraction, --windows, --repeat >= 1")
    return args


def _base_spec(data: dataset.Dataset) -> dict[str, Any]:
    return {
        "zip_path": str(data.zip_path),
        "start": data.start.isoformat(),
        "end": data.end.isoformat(),
        "rows": data.rows,
    }


def _millions(data: dataset.Dataset) -> float:
    return data.rows.get("searches", 0) / 1e6


def run_baseline(
    runner: CaseRunner, data: dataset.Dataset, repeat: int, notes: list[str]
) -> dict[str, Any]:
    began = time.perf_counter()
    csvs = dataset.extract_csvs(data.zip_path, runner.work / "csv")
    extraction = time.perf_counter() - began
    notes.append(f"c: extracting the CSVs from the zip took {extraction:.1f} s (not counted).")
    try:
        return runner.run("c", "duckdb_baseline", {"csvs": csvs}, _millions(data), repeat)
    finally:
        shutil.rmtree(runner.work / "csv", ignore_errors=True)


def run_dicts(
    runner: CaseRunner, data: dataset.Dataset, fraction: int, notes: list[str]
) -> dict[str, Any]:
    limits = {table: math.ceil(rows / fraction) for table, rows in data.rows.items()}
    spec = {"zip_path": str(data.zip_path), "limits": limits}
    result = runner.run("d", "dict_rows", spec, _millions(data) / fraction)
    if "wall_s" in result and result.get("rows"):
        scale = data.total_rows / result["rows"]
        result["extrapolated_rows"] = data.total_rows
        result["extrapolated_wall_s"] = round(result["wall_s"] * scale, 3)
        notes.append(
            f"d: measured {result['rows']:,} rows in {result['wall_s']:.2f} s (the first "
            f"1/{fraction} of each table), extrapolated x{scale:.2f}; its RSS is measured "
            "at the sample size, not extrapolated."
        )
    return result


def run_http(
    runner: CaseRunner,
    data: dataset.Dataset,
    repeat: int,
    notes: list[str],
    results: dict[str, Any],
) -> dict[str, Any]:
    work = runner.work / "a_sim"
    spec = {
        "token": TOKEN,
        "start": data.start.isoformat(),
        "end": data.end.isoformat(),
        "exports_dir": str(work / "exports"),
    }
    with SimulatorProcess(data.config(), runner.work / "simulator-a.log", child_env()) as sim:
        spec["api_root"] = sim.api_root
        say(f"simulator at {sim.api_root}; warm-up: the source's extract builds the zip")
        warm = runner.run("a_warm_up", "http_source", {**spec, "warm_up": True}, _millions(data))
        if "error" in warm:
            return warm
        served = work / "served.zip"
        served_zip(sim.api_root, TOKEN, served)
        same = dataset.member_crcs(served) == dataset.member_crcs(data.zip_path)
        served.unlink()
        results["simulator_warm_up"] = {**warm, "same_data_as_generated_zip": same}
        say(f"simulator zip built in {warm.get('build_s')} s; same data as generated: {same}")
        result = runner.run("a", "http_source", spec, _millions(data), repeat)
    shutil.rmtree(work, ignore_errors=True)
    _http_notes(result, warm, same, data, notes)
    return result


def _http_notes(
    result: dict[str, Any],
    warm: dict[str, Any],
    same: bool,
    data: dataset.Dataset,
    notes: list[str],
) -> None:
    runs = result.get("repeats", [result])
    reattached = all(run.get("reattached") for run in runs)
    created = sum(run.get("created") or 0 for run in runs)
    build = warm.get("build_s")
    notes.append(
        "a: the simulator builds an export's zip lazily, inside the first download request; "
        f"for this data that took {build} s. A warm-up process ran the source's extract "
        "once (creating the export, building and downloading its zip); every measured run "
        f"of a reattached to that export: {reattached} (exports they created: {created}), "
        f"so the build is {'' if reattached else 'NOT '}excluded from a. The served zip "
        f"has the same CRCs as the generated one: {same}."
    )
    events = result.get("events", {})
    if "last_ready" in events:
        download = events["last_ready"] - events.get("first_downloading", 0.0)
        notes.append(
            f"a: the export was ready (reattach + download of {data.zip_bytes / 1e6:.0f} MB "
            f"over loopback) {events['last_ready']:.2f} s into extract; the download itself "
            f"took {download:.2f} s."
        )


def run_backfills(runner: CaseRunner, args: argparse.Namespace) -> dict[str, Any]:
    start = dataset.START
    end = start + timedelta(hours=args.windows)
    cfg = dataset.sim_config(args.backfill_searches_per_hour, build_delay=args.build_delay)
    out: dict[str, Any] = {}
    for key, concurrent in (("e_seq", 1), ("e_conc", None)):
        with SimulatorProcess(cfg, runner.work / f"simulator-{key}.log", child_env()) as sim:
            spec = {
                "api_root": sim.api_root,
                "token": TOKEN,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "window": "PT1H",
                "poll_interval": args.backfill_poll_interval,
                "max_concurrent_exports": concurrent,
            }
            out[key] = runner.run(key, "backfill", spec, 0.0)
    return out


def run_daily(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    """The connector's daily run and raw DuckDB on the same CSVs, interleaved; every
    connector run's rows are checked against the ground truth."""
    runner = CaseRunner(work, args.timeout_scale)
    say(f"generating one day of ~{args.rows:,} searches with the simulator's generator")
    data = dataset.generate_day(work / "data" / "export.zip", args.rows)
    results["dataset"] = data.as_json()
    say(f"generated {data.total_rows:,} rows in {data.generate_s:.1f} s: {data.rows}")
    csvs = dataset.extract_csvs(data.zip_path, work / "csv")
    millions = _millions(data)
    spec: dict[str, Any] = {
        "token": TOKEN,
        "start": data.start.isoformat(),
        "end": data.end.isoformat(),
        "exports_dir": str(work / "daily_exports"),
    }
    check = TruthCheck(data.config(), data.start, data.end)
    with SimulatorProcess(data.config(), work / "simulator-daily.log", child_env()) as sim:
        spec["api_root"] = sim.api_root
        say("warm-up: the source's extract creates the day's export; the simulator builds it")
        warm = runner.run("daily_warm_up", "daily", {**spec, "warm_up": True}, millions)
        results["cases"]["daily_warm_up"] = warm
        if "error" in warm:
            return
        series = [
            Case("daily", "daily", spec, millions, lambda folder: check(folder / daily.DATABASE)),
            Case("daily_c", "duckdb_baseline", {"csvs": csvs}, millions),
        ]
        results["cases"].update(runner.interleaved(series, args.repeat))
    shutil.rmtree(work / "csv", ignore_errors=True)


def run_all(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    notes: list[str] = results["notes"]
    cases: dict[str, Any] = results["cases"]
    runner = CaseRunner(work, args.timeout_scale)
    say(f"generating the export zip of ~{args.rows:,} searches with the simulator's generator")
    data = dataset.generate(work / "data" / "export.zip", args.rows, args.bad_dimension_rate)
    results["dataset"] = data.as_json()
    say(f"generated {data.total_rows:,} rows in {data.generate_s:.1f} s: {data.rows}")
    if "c" in args.cases:
        cases["c"] = run_baseline(runner, data, args.repeat, notes)
    if "b" in args.cases:
        spec, millions = _base_spec(data), _millions(data)
        cases["b"] = runner.run("b", "local_source", spec, millions, args.repeat)
        extract_spec = {**spec, "profile": args.profile}
        cases["b_extract"] = runner.run("b_extract", "extract_rss", extract_spec, millions)
    if "d" in args.cases:
        cases["d"] = run_dicts(runner, data, args.dict_fraction, notes)
    if "a" in args.cases:
        cases["a"] = run_http(runner, data, args.repeat, notes, results)
    if "e" in args.cases:
        cases.update(run_backfills(runner, args))
    if args.high_rate:
        cases["b_high_rate"] = run_high_rate(runner, data, args, results)
    if args.rss_scaling:
        say(f"generating the 4x zip (~{4 * args.rows:,} searches) for the RSS-scaling check")
        data.zip_path.unlink()
        big = dataset.generate(
            work / "data4" / "export.zip", 4 * args.rows, data.bad_dimension_rate
        )
        results["dataset_4x"] = big.as_json()
        cases["b_extract_4x"] = runner.run(
            "b_extract_4x", "extract_rss", _base_spec(big), _millions(big)
        )
        big.zip_path.unlink()


def run_high_rate(
    runner: CaseRunner, data: dataset.Dataset, args: argparse.Namespace, results: dict[str, Any]
) -> dict[str, Any]:
    """Case b on the same rows with the simulator's test rate of bad dimension values."""
    say("generating the zip again with ~1 in 5 custom dimension values that do not parse")
    high = dataset.generate(runner.work / "data_high" / "export.zip", args.rows, None)
    results["dataset_high_rate"] = high.as_json()
    try:
        return runner.run("b_high_rate", "local_source", _base_spec(high), _millions(high))
    finally:
        high.zip_path.unlink()


def labels(args: argparse.Namespace) -> dict[str, str]:
    fraction = args.dict_fraction
    default = settings.DEFAULT_MAX_CONCURRENT_EXPORTS
    windows = f"{args.windows} x PT1H, build_delay {args.build_delay:g} s"
    return {
        "a": "a  connector via HTTP simulator (zip prebuilt)",
        "b": f"b  connector, local zip, {args.bad_dimension_rate:g} of c_* values bad",
        "b_high_rate": "b  the same, ~1 in 5 c_* values bad (rejected values)",
        "c": "c  DuckDB CTAS read_csv baseline",
        "d": f"d  dict rows, csv.DictReader [extrapolated from 1/{fraction}]",
        "e_seq": f"e  backfill {windows}, concurrency 1",
        "e_conc": f"e  backfill {windows}, concurrency {default}",
        "b_extract": "b  extract step only (peak RSS)",
        "b_extract_4x": "b  extract step only, 4x rows (peak RSS)",
    }


def compile_sources() -> None:
    """Byte-compile the connector, the simulator and the benchmark before any case runs.

    pip compiles a package it installs from a wheel, so a user's first run imports
    compiled modules; the checkout's editable install is compiled on first import only
    where Python may write its cache (not under PYTHONDONTWRITEBYTECODE), and each case
    would otherwise pay the compilation in its imports.
    """
    for package in ("coveo_ua_source", "coveo_ua_simulator", "bench"):
        if not compileall.compile_dir(ROOT / package, quiet=1):
            raise SystemExit(f"bench: {package} does not byte-compile")


def environment() -> dict[str, Any]:
    packages = {name: version(name) for name in ("dlt", "duckdb", "pyarrow", "requests")}
    tuning = {name: value for name, value in os.environ.items() if name.startswith(TUNING_PREFIXES)}
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "packages": packages,
        "dlt_tuning_env": tuning,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = args.out.resolve()  # the cases run in folders of their own
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.out))
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]]),
        "arguments": {key: str(value) for key, value in vars(args).items()},
        "environment": environment(),
        "cases": {},
        "notes": [],
    }
    compile_sources()
    began = time.perf_counter()
    try:
        (run_daily if args.daily else run_all)(args, work, results)
    finally:
        if args.keep:
            say(f"kept the data and case folders in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["total_s"] = round(time.perf_counter() - began, 1)
    results["ratios"] = report.ratios(results["cases"])
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print()
    print(report.render(results, labels(args)))
    if results["environment"]["dlt_tuning_env"]:
        print(f"dlt settings from the environment: {results['environment']['dlt_tuning_env']}")
    print(f"\nTotal {results['total_s']:.0f} s. Results: {args.out / 'results.json'}")
    failed = [key for key, case in results["cases"].items() if "error" in case]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
