"""What each `coveo-ua` command does; `cli.py` parses the command line and calls these."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from coveo_ua_source import settings
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.schema import TABLES

console = Console(width=max(100, Console().width))

TOKEN_VARIABLES = ("COVEO_UA_ACCESS_TOKEN", "SOURCES__COVEO_UA__ACCESS_TOKEN")


def demo_command(args: argparse.Namespace) -> int:
    from coveo_ua_source.demo import (
        TOP_QUERIES_SQL,
        custom_dimension_rows,
        run_demo,
        table_counts,
        top_queries,
    )

    console.print("[bold]coveo-ua demo[/]: SIMULATED usage analytics from the local simulator")
    runs, pipeline = run_demo(Path(args.database), Path(args.pipelines_dir))
    for run in runs:
        loaded = ", ".join(f"{t} {run.rows[t]:,}" for t in TABLES if t in run.rows) or "none"
        console.print(
            f"  {run.label:<19} end {run.end:%Y-%m-%d}: {run.exports_created} export(s) "
            f"created; rows extracted: {loaded}",
            highlight=False,
            soft_wrap=True,
        )
    _print_counts(table_counts(pipeline), f"Rows per table in {args.database}")
    console.print(TOP_QUERIES_SQL.format(dataset=pipeline.dataset_name).strip(), markup=False)
    _print_rows(["query", "searches", "click-through"], top_queries(pipeline), "Top queries")
    headers = ["column", "loaded as", "values", "rejected (NULL)"]
    _print_rows(headers, custom_dimension_rows(pipeline), "Custom dimensions, typed by exportables")
    example = f"SELECT * FROM {pipeline.dataset_name}.daily_search_metrics"  # noqa: S608
    console.print(
        f"Query it with any DuckDB client, e.g. from Python: "
        f"duckdb.connect({str(args.database)!r}).sql({example!r}).show()",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _pipeline(args: argparse.Namespace) -> Any:
    import dlt

    return dlt.pipeline(
        pipeline_name=args.pipeline_name,
        destination=args.destination,
        dataset_name=args.dataset_name,
    )


def load_command(args: argparse.Namespace) -> int:
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


def plan_command(args: argparse.Namespace) -> int:
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


def exports_list_command(args: argparse.Namespace) -> int:
    client = _client(args)
    rows = [
        (e.id, e.status, str(e.start), str(e.end), ",".join(e.tables), e.description or "")
        for e in client.list_exports()
    ]
    _print_rows(["id", "status", "from", "to", "tables", "description"], rows, "Exports")
    return 0


def exports_delete_command(args: argparse.Namespace) -> int:
    client = _client(args)
    for export_id in args.ids:
        client.delete_export(export_id)
        console.print(f"deleted {export_id}", highlight=False)
    return 0


def views_command(args: argparse.Namespace) -> int:
    _create_views(_pipeline(args))
    return 0


def simulator_command(args: argparse.Namespace) -> int:
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
