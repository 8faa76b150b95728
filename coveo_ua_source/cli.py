"""The `coveo-ua` command: demo, load and the simulator."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from coveo_ua_source.exceptions import CoveoUAError
from coveo_ua_source.schema import TABLES

console = Console()
errors = Console(stderr=True)

TOKEN_VARIABLES = ("COVEO_UA_ACCESS_TOKEN", "SOURCES__COVEO_UA__ACCESS_TOKEN")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except CoveoUAError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coveo-ua",
        description="Load Coveo Usage Analytics data exports with dlt.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_demo(commands)
    _add_load(commands)
    _add_simulator(commands)
    return parser


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="load SIMULATED data from the local simulator into a DuckDB file",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--database", default="coveo_ua.duckdb", help="DuckDB file to load")
    demo.add_argument(
        "--pipelines-dir", default=".coveo_ua/pipelines", help="where dlt keeps pipeline state"
    )
    demo.set_defaults(handler=_run_demo)


def _add_load(commands: Any) -> None:
    load = commands.add_parser(
        "load",
        help="load Coveo UA exports into a dlt destination",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="The token comes from COVEO_UA_ACCESS_TOKEN, SOURCES__COVEO_UA__ACCESS_TOKEN "
        "or .dlt/secrets.toml; options not given fall back to .dlt/config.toml.",
    )
    load.add_argument("--start-date", help="first day to load (ISO 8601, UTC when no offset)")
    load.add_argument("--end-date", help="end of the range, exclusive (default: settled now)")
    load.add_argument("--tables", help=f"comma-separated subset of {','.join(TABLES)}")
    load.add_argument("--window", help="export window, ISO 8601 duration (default P1D)")
    load.add_argument("--lookback", help="re-export this much before the last end (e.g. PT6H)")
    load.add_argument("--org-id", help="organization id (required with OAuth tokens)")
    load.add_argument("--region", help="us, eu, au, ca or hipaa")
    load.add_argument("--base-url", help="explicit API root ending in /rest/ua")
    load.add_argument("--export-format", choices=["EXCEL", "NO_NEWLINE"], help="CSV dialect")
    load.add_argument("--destination", default="duckdb", help="any dlt destination name")
    load.add_argument("--dataset-name", default="usage_analytics", help="dataset (schema) to load into")
    load.add_argument("--pipeline-name", default="coveo_ua", help="dlt pipeline name (state)")
    load.set_defaults(handler=_run_load)


def _add_simulator(commands: Any) -> None:
    simulator = commands.add_parser(
        "simulator",
        help="run the local Coveo UA exports simulator (not real Coveo data)",
        add_help=False,
    )
    simulator.add_argument("args", nargs=argparse.REMAINDER)
    simulator.set_defaults(handler=_run_simulator)


def _run_demo(args: argparse.Namespace) -> int:
    from coveo_ua_source.demo import run_demo, table_counts, top_queries

    console.print("[bold]coveo-ua demo[/]: SIMULATED usage analytics from the local simulator")
    runs, pipeline = run_demo(Path(args.database), Path(args.pipelines_dir))
    for run in runs:
        loaded = ", ".join(f"{table} {count}" for table, count in run.rows.items()) or "nothing"
        console.print(
            f"  {run.label:<20} end {run.end:%Y-%m-%d}: {run.exports_created} export(s) "
            f"created; rows extracted: {loaded}"
        )
    _print_counts(table_counts(pipeline), f"Rows per table in {args.database}")
    _print_rows(
        ["query", "searches"], top_queries(pipeline), "Example: top queries (SQL below)"
    )
    console.print(
        f"Query it yourself: duckdb {args.database} \"SELECT count(*) FROM usage_analytics.searches\""
    )
    return 0


def _run_load(args: argparse.Namespace) -> int:
    import dlt

    from coveo_ua_source.source import coveo_ua_source

    pipeline = dlt.pipeline(
        pipeline_name=args.pipeline_name,
        destination=args.destination,
        dataset_name=args.dataset_name,
    )
    source = coveo_ua_source(**_source_arguments(args))
    info = pipeline.run(source)
    info.raise_on_failed_jobs()
    trace = pipeline.last_trace
    counts = dict(trace.last_normalize_info.row_counts) if trace.last_normalize_info else {}
    _print_counts({t: counts.get(t, 0) for t in TABLES}, "Rows loaded in this run")
    return 0


def _source_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given; dlt resolves the rest from config, secrets and env."""
    chosen: dict[str, Any] = {
        "start_date": args.start_date,
        "end_date": args.end_date,
        "window": args.window,
        "lookback": args.lookback,
        "org_id": args.org_id,
        "region": args.region,
        "base_url": args.base_url,
        "export_format": args.export_format,
        "tables": args.tables.split(",") if args.tables else None,
    }
    token = next((os.environ[name] for name in TOKEN_VARIABLES if os.environ.get(name)), None)
    chosen["access_token"] = token
    return {key: value for key, value in chosen.items() if value is not None}


def _run_simulator(args: argparse.Namespace) -> int:
    from coveo_ua_source.simulator.__main__ import main as simulator_main

    return simulator_main(list(args.args))


def _print_counts(counts: dict[str, int], title: str) -> None:
    _print_rows(["table", "rows"], [(t, f"{n:,}") for t, n in counts.items()], title)


def _print_rows(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str) -> None:
    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(str(value) for value in row))
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
