"""What each `coveo-ua` command does; `main.py` parses the command line and calls these.

Every command reads its settings through ``configuration.resolve_source_config``: flags, then
``COVEO_UA_ACCESS_TOKEN``, then dlt's environment variables and TOML files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from coveo_ua_source.cli.tables import titled_table
from coveo_ua_source.configuration import require_start_date, require_token, resolve_source_config
from coveo_ua_source.schema import TABLES

console = Console(width=max(100, Console().width))
errors = Console(stderr=True, width=max(100, Console().width))

# Flags that stand for a source option of the same name.
_SOURCE_FLAGS = (
    "start_date", "end_date", "window", "lookback", "org_id", "region", "base_url",
    "export_format", "max_exports",
)  # fmt: skip


def demo_command(args: argparse.Namespace) -> int:
    from coveo_ua_source.cli.demo import (
        TOP_QUERIES_SQL,
        custom_dimension_rows,
        run_demo,
        table_counts,
        top_queries,
    )
    from coveo_ua_source.cli.warnings_once import warnings_held

    console.print("[bold]coveo-ua demo[/]: SIMULATED usage analytics from the local simulator")
    with warnings_held() as held:
        runs, pipeline = run_demo(Path(args.database), Path(args.pipelines_dir))
    for run in runs:
        loaded = ", ".join(f"{t} {run.rows[t]:,}" for t in TABLES if t in run.rows) or "none"
        console.print(
            f"  {run.label:<19} end {run.end:%Y-%m-%d}: {run.exports_created} export(s) "
            f"created; rows extracted: {loaded}",
            highlight=False,
            soft_wrap=True,
        )
    notices = held.not_summarized()  # values that did not parse: in the last table
    if notices:
        console.print(
            f"  {notices.total()} notice(s) while loading, e.g. {next(iter(notices))}",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
    _print_counts(table_counts(pipeline), "Rows per table")
    console.print(TOP_QUERIES_SQL.format(dataset=pipeline.dataset_name).strip(), markup=False)
    print_rows(["query", "searches", "click-through"], top_queries(pipeline), "Top queries")
    headers = ["column", "loaded as", "values", "rejected (NULL)"]
    print_rows(headers, custom_dimension_rows(pipeline), "Custom dimensions, typed by exportables")
    example = f"SELECT * FROM {pipeline.dataset_name}.daily_search_metrics"  # noqa: S608
    console.print(
        f"Query it with any DuckDB client, e.g. from Python: "
        f"duckdb.connect({str(args.database)!r}).sql({example!r}).show()",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def source_config(args: argparse.Namespace) -> dict[str, Any]:
    """The source's options: the flags given, then env and config as the source reads them."""
    explicit = {name: getattr(args, name, None) for name in _SOURCE_FLAGS}
    if getattr(args, "tables", None) is not None:
        explicit["tables"] = args.tables.split(",")
    return resolve_source_config(explicit, getattr(args, "pipeline_name", None))


def load_command(args: argparse.Namespace) -> int:
    from coveo_ua_source.cli.pipeline import make_pipeline, remember_destination
    from coveo_ua_source.cli.progress import LoadProgress
    from coveo_ua_source.cli.summary import Displays, WindowLines, json_summary, print_summary
    from coveo_ua_source.recipe import run_load
    from coveo_ua_source.source import coveo_ua_source

    config = source_config(args)
    require_token(config)
    require_start_date(config)
    pipeline = make_pipeline(args, loading=True)
    views = not args.no_views
    lines = [WindowLines(console)] if args.verbose and not args.json else []
    if args.no_progress or args.json or not console.is_terminal:
        source = coveo_ua_source(**config, progress=Displays(*lines))
        summary = run_load(pipeline, source, views=views, **config)
    else:
        with LoadProgress(console, keep_windows=args.verbose) as display:
            source = coveo_ua_source(**config, progress=Displays(display, *lines))
            summary = run_load(pipeline, source, views=views, **config)
            console.print(display.summary, highlight=False)
    remember_destination(pipeline, args)
    if args.json:
        print(json.dumps(json_summary(summary, pipeline), indent=2))
        return 0
    if views:
        _print_views(pipeline, summary["views"])
    if summary["exports_deleted"]:
        console.print(
            f"exports deleted on Coveo now that they are loaded: {summary['exports_deleted']}"
        )
    print_summary(console, pipeline)
    return 0


def _print_views(pipeline: Any, names: list[str]) -> None:
    from coveo_ua_source.cli.pipeline import destination_type, keeps_views

    if not keeps_views(pipeline):
        kind = destination_type(pipeline)
        console.print(f"views: none (the {kind} destination keeps no SQL views)")
    elif names:
        console.print(f"views: {', '.join(names)}", highlight=False, soft_wrap=True)


def _create_views(pipeline: Any) -> bool:
    """Create the views and say which; False when there were no tables to make them on."""
    from coveo_ua_source.cli.pipeline import destination_type, keeps_views
    from coveo_ua_source.warehouse.views import create_views

    if not keeps_views(pipeline):
        kind = destination_type(pipeline)
        console.print(f"views: none (the {kind} destination keeps no SQL views)")
        return True
    names = create_views(pipeline)
    if names:
        console.print(f"views: {', '.join(names)}", highlight=False, soft_wrap=True)
    return bool(names)


def plan_command(args: argparse.Namespace) -> int:
    from coveo_ua_source.cli.pipeline import pipeline_if_known
    from coveo_ua_source.cli.plan_report import estimate_progress, print_plan
    from coveo_ua_source.runs.dry_run import plan_load

    config = source_config(args)
    chosen = {name: config[name] for name in _PLAN_OPTIONS if name in config}
    chosen["start_date"] = require_start_date(config)
    token = require_token(config)
    plan = plan_load(
        token, pipeline=pipeline_if_known(args), on_estimate=estimate_progress(errors), **chosen
    )
    print_plan(console, plan, config, show_windows=args.windows)
    return 0


_PLAN_OPTIONS = (
    "end_date", "tables", "window", "lookback", "org_id", "base_url", "region", "filters",
    "search_filters", "custom_event_filters", "settle_delay", "max_exports",
)  # fmt: skip


def views_command(args: argparse.Namespace) -> int:
    from coveo_ua_source.cli.pipeline import DEFAULT_DATASET, make_pipeline, with_schema_restored

    if args.print_sql:
        _print_view_sql(args.dialect, args.dataset_name or DEFAULT_DATASET)
        return 0
    pipeline = with_schema_restored(make_pipeline(args))
    if not _create_views(pipeline):
        errors.print(
            f"views: none; no loaded tables found in dataset {pipeline.dataset_name!r} of "
            f"pipeline {pipeline.pipeline_name!r}: load it first, or name the dataset that "
            "holds them (--dataset-name)",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
        return 1
    return 0


def _print_view_sql(dialect: str, dataset: str) -> None:
    from coveo_ua_source.warehouse.views import view_script

    sys.stdout.write(view_script(dialect, dataset))


def _print_counts(counts: dict[str, int], title: str) -> None:
    print_rows(["table", "rows"], [(t, f"{n:,}") for t, n in counts.items()], title)


def print_rows(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str, target: Console = console
) -> None:
    table = titled_table(target, title)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(str(value) for value in row))
    target.print(table)
