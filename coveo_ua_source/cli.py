"""The `coveo-ua` command: demo, load, plan, exports, views and the simulator.

Exit codes: 0 done; 1 the connector or the API reported an error (one line says why);
2 bad command-line usage; 3 another failure of the pipeline (database, destination).
"""

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

from coveo_ua_source import settings
from coveo_ua_source.exceptions import ConfigurationError, CoveoUAError
from coveo_ua_source.schema import TABLES

console = Console(width=max(100, Console().width))
errors = Console(stderr=True, width=max(100, Console().width))

TOKEN_VARIABLES = ("COVEO_UA_ACCESS_TOKEN", "SOURCES__COVEO_UA__ACCESS_TOKEN")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where the option has one; others say theirs in the help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False):
            return action.help or ""
        return super()._get_help_string(action) or ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["simulator"]:
        return _run_simulator(argparse.Namespace(args=arguments[1:]))
    args = _parser().parse_args(arguments)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    except Exception as error:  # the CLI turns every failure into one line
        cause = _root_cause(error)
        errors.print(f"error: {cause}", highlight=False, markup=False, soft_wrap=True)
        return 1 if isinstance(cause, CoveoUAError) else 3


def _root_cause(error: BaseException) -> BaseException:
    """The connector's own error inside dlt's wrappers, or the innermost cause."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        if isinstance(current, CoveoUAError):
            return current
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen[-1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coveo-ua",
        description="Load Coveo Usage Analytics data exports with dlt. Options not given "
        "fall back to dlt config: .dlt/config.toml, .dlt/secrets.toml, SOURCES__COVEO_UA__*.",
        formatter_class=_Formatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(commands)
    _add_load(commands)
    _add_plan(commands)
    _add_exports(commands)
    _add_views(commands)
    _add_simulator(commands)
    return parser


def _connection_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connection (token: COVEO_UA_ACCESS_TOKEN or secrets)")
    group.add_argument("--org-id", help="organization id; required with OAuth tokens")
    group.add_argument("--region", help=f"one of {', '.join(settings.REGION_ROOTS)} (default: us)")
    group.add_argument("--base-url", help="explicit API root ending in /rest/ua")
    return options


def _range_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("what to load")
    group.add_argument(
        "--start-date",
        help="first instant to load, ISO 8601, UTC if no offset (required here or in config)",
    )
    group.add_argument(
        "--end-date", help="exclusive end (default: the last whole hour at least 1 hour ago)"
    )
    group.add_argument(
        "--tables", help=f"comma-separated subset of {','.join(TABLES)} (default: all)"
    )
    group.add_argument(
        "--window", help=f"export window, ISO 8601 (default: {settings.DEFAULT_WINDOW})"
    )
    group.add_argument(
        "--lookback", help=f"re-export before the last end (default: {settings.DEFAULT_LOOKBACK})"
    )
    return options


def _pipeline_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("pipeline")
    group.add_argument("--destination", default="duckdb", help="dlt destination name")
    group.add_argument("--dataset-name", default="usage_analytics", help="dataset to load into")
    group.add_argument("--pipeline-name", default="coveo_ua", help="dlt pipeline (holds state)")
    return options


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="load SIMULATED data from the local simulator into DuckDB",
        formatter_class=_Formatter,
    )  # fmt: skip
    demo.add_argument("--database", default="coveo_ua.duckdb", help="DuckDB file to load")
    demo.add_argument(
        "--pipelines-dir", default=".coveo_ua/pipelines", help="where dlt keeps pipeline state"
    )
    demo.set_defaults(handler=_run_demo)


def _add_load(commands: Any) -> None:
    parents = [_connection_options(), _range_options(), _pipeline_options()]
    load = commands.add_parser(
        "load", parents=parents, formatter_class=_Formatter,
        help="load Coveo UA exports into a dlt destination (incremental)",
    )  # fmt: skip
    load.add_argument(
        "--export-format", choices=["EXCEL", "NO_NEWLINE"], default=None,
        help="CSV dialect of the exports (default: EXCEL)",
    )  # fmt: skip
    load.add_argument("--no-progress", action="store_true", help="no progress display")
    load.add_argument("--no-views", action="store_true", help="do not (re)create SQL views")
    load.set_defaults(handler=_run_load)


def _add_plan(commands: Any) -> None:
    plan = commands.add_parser(
        "plan", parents=[_connection_options(), _range_options()], formatter_class=_Formatter,
        help="show the windows and estimated rows of the next load; creates nothing",
    )  # fmt: skip
    plan.add_argument(
        "--pipeline-name", default="coveo_ua", help="start from this pipeline's state"
    )
    plan.set_defaults(handler=_run_plan)


def _add_exports(commands: Any) -> None:
    exports = commands.add_parser("exports", help="list or delete the org's exports")
    actions = exports.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[_connection_options()], formatter_class=_Formatter,
        help="list every export of the organization",
    )  # fmt: skip
    listing.set_defaults(handler=_run_exports_list)
    delete = actions.add_parser(
        "delete", parents=[_connection_options()], formatter_class=_Formatter,
        help="delete exports by id",
    )  # fmt: skip
    delete.add_argument("ids", nargs="+", metavar="ID", help="export id")
    delete.set_defaults(handler=_run_exports_delete)


def _add_views(commands: Any) -> None:
    views = commands.add_parser(
        "views", parents=[_pipeline_options()], formatter_class=_Formatter,
        help="(re)create the SQL views over the loaded tables",
    )  # fmt: skip
    views.set_defaults(handler=_run_views)


def _add_simulator(commands: Any) -> None:
    simulator = commands.add_parser(
        "simulator", add_help=False,
        help="run the local exports simulator (not real Coveo data); see its --help",
    )  # fmt: skip
    simulator.add_argument("args", nargs=argparse.REMAINDER)
    simulator.set_defaults(handler=_run_simulator)


def _run_demo(args: argparse.Namespace) -> int:
    from coveo_ua_source.demo import TOP_QUERIES_SQL, run_demo, table_counts, top_queries

    console.print("[bold]coveo-ua demo[/]: SIMULATED usage analytics from the local simulator")
    runs, pipeline = run_demo(Path(args.database), Path(args.pipelines_dir))
    for run in runs:
        loaded = ", ".join(f"{t} {run.rows[t]:,}" for t in TABLES if t in run.rows) or "none"
        console.print(
            f"  {run.label:<19} end {run.end:%Y-%m-%d}: {run.exports_created} export(s) "
            f"created; rows extracted: {loaded}",
            highlight=False,
        )
    _print_counts(table_counts(pipeline), f"Rows per table in {args.database}")
    console.print(TOP_QUERIES_SQL.format(dataset=pipeline.dataset_name).strip(), markup=False)
    _print_rows(["query", "searches", "click-through"], top_queries(pipeline), "Top queries")
    example = f"SELECT * FROM {pipeline.dataset_name}.daily_search_metrics"  # noqa: S608
    console.print(f'Query it yourself: duckdb {args.database} "{example}"', markup=False)
    return 0


def _pipeline(args: argparse.Namespace) -> Any:
    import dlt

    return dlt.pipeline(
        pipeline_name=args.pipeline_name,
        destination=args.destination,
        dataset_name=args.dataset_name,
    )


def _run_load(args: argparse.Namespace) -> int:
    from coveo_ua_source.progress import LoadProgress
    from coveo_ua_source.source import coveo_ua_source

    pipeline = _pipeline(args)
    arguments = _source_arguments(args)
    if args.no_progress:
        info = pipeline.run(coveo_ua_source(**arguments))
    else:
        with LoadProgress(console) as progress:
            info = pipeline.run(coveo_ua_source(progress=progress, **arguments))
    info.raise_on_failed_jobs()
    if not args.no_views:
        _create_views(pipeline)
    _print_load_summary(pipeline)
    return 0


def _create_views(pipeline: Any) -> None:
    from coveo_ua_source.views import create_views

    names = create_views(pipeline)
    if names:
        console.print(f"views: {', '.join(names)}", highlight=False)


def _print_load_summary(pipeline: Any) -> None:
    trace = pipeline.last_trace
    normalize = trace.last_normalize_info if trace is not None else None
    counts = dict(normalize.row_counts) if normalize is not None else {}
    rows: list[tuple[str, str]] = [(t, f"{counts.get(t, 0):,}") for t in TABLES]
    rejected = counts.get("_coveo_ua_rejected_rows", 0)
    rows.append(("rejected rows (see _coveo_ua_rejected_rows)", f"{rejected:,}"))
    windows = counts.get("_coveo_ua_windows", 0)
    _print_rows(["table", "rows loaded"], rows, f"Loaded ({windows} table-windows)")


def _run_plan(args: argparse.Namespace) -> int:
    import dlt

    from coveo_ua_source.planning import plan_load

    pipeline = dlt.attach(args.pipeline_name) if _pipeline_exists(args.pipeline_name) else None
    chosen = _source_arguments(args)
    chosen.setdefault("start_date", dlt.config.get("sources.coveo_ua.start_date"))
    if chosen.get("start_date") is None:
        raise ConfigurationError("--start-date is required (or sources.coveo_ua.start_date)")
    chosen["access_token"] = chosen.get("access_token") or _configured_token()
    plan = plan_load(pipeline=pipeline, **chosen)
    rows = [
        (
            str(p.window),
            ", ".join(p.tables),
            ", ".join(f"{t} {n:,}" for t, n in p.estimates.items()),
        )
        for p in plan
    ]
    _print_rows(["window", "tables", "estimated rows"], rows, f"{len(plan)} export(s) planned")
    return 0


def _pipeline_exists(name: str) -> bool:
    from dlt.common.pipeline import get_dlt_pipelines_dir

    return (Path(get_dlt_pipelines_dir()) / name / "state.json").exists()


def _run_exports_list(args: argparse.Namespace) -> int:
    client = _client(args)
    rows = [
        (e.id, e.status, str(e.start), str(e.end), ",".join(e.tables), e.description or "")
        for e in client.list_exports()
    ]
    _print_rows(["id", "status", "from", "to", "tables", "description"], rows, "Exports")
    return 0


def _run_exports_delete(args: argparse.Namespace) -> int:
    client = _client(args)
    for export_id in args.ids:
        client.delete_export(export_id)
        console.print(f"deleted {export_id}", highlight=False)
    return 0


def _run_views(args: argparse.Namespace) -> int:
    _create_views(_pipeline(args))
    return 0


def _run_simulator(args: argparse.Namespace) -> int:
    from coveo_ua_source.simulator.__main__ import main as simulator_main

    return simulator_main(list(args.args))


def _client(args: argparse.Namespace) -> Any:
    from coveo_ua_source.arguments import require_token
    from coveo_ua_source.client import CoveoClient

    return CoveoClient(
        require_token(_token() or _configured_token()),
        org_id=args.org_id,
        base_url=args.base_url,
        region=args.region or settings.DEFAULT_REGION,
    )


def _source_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given; dlt resolves the rest from config, secrets and env."""
    names = ["start_date", "end_date", "window", "lookback", "org_id", "region", "base_url"]
    chosen = {name: getattr(args, name, None) for name in names}
    chosen["export_format"] = getattr(args, "export_format", None)
    chosen["tables"] = args.tables.split(",") if getattr(args, "tables", None) else None
    chosen["access_token"] = _token()
    return {key: value for key, value in chosen.items() if value is not None}


def _token() -> str | None:
    return next((os.environ[name] for name in TOKEN_VARIABLES if os.environ.get(name)), None)


def _configured_token() -> str | None:
    import dlt

    value: Any = dlt.secrets.get("sources.coveo_ua.access_token")
    return str(value) if value else None


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
