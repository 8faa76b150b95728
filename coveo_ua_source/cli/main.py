"""The `coveo-ua` command: init, demo, load, plan, exports, views and dimensions.

Exit codes: 0 done; 1 the connector or the API reported an error (one line says why);
2 bad command-line usage or a required setting set nowhere; 3 another failure of the
pipeline (database, destination); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console

from coveo_ua_source import settings
from coveo_ua_source.cli import commands as run
from coveo_ua_source.cli import exports as export_commands
from coveo_ua_source.cli.config import config_only_help
from coveo_ua_source.cli.interrupts import ctrl_c_kept
from coveo_ua_source.cli.warnings_once import warnings_once
from coveo_ua_source.configuration import MissingSettingError
from coveo_ua_source.exceptions import ConfigurationError, CoveoUAError, TooManyExportsError
from coveo_ua_source.schema import TABLES
from coveo_ua_source.warehouse.views import DIALECTS

errors = Console(stderr=True, width=max(100, Console().width))


INTERRUPTED = (
    "interrupted: nothing of the unfinished windows was committed; run the same command "
    "again to resume (exports already created on Coveo are reused, not created again)"
)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where the option has one; others say theirs in the help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False):
            return action.help or ""
        return super()._get_help_string(action) or ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(arguments)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        verbose = getattr(args, "verbose", False)
        summarized = args.handler is not run.load_command  # load's summary reports them
        with ctrl_c_kept(), warnings_once(show_all=verbose, summarized=summarized) as once:
            code = int(args.handler(args))
        for line in once.repeats():
            errors.print(line, highlight=False, markup=False, soft_wrap=True)
        return code
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as error:  # the CLI turns every failure into one line
        return _failed(error)


def _failed(error: Exception) -> int:
    """Print the failure in a line or two; the exit code (2 for settings, 1 for a run)."""
    from coveo_ua_source.cli.failures import failure_text, root_cause
    from coveo_ua_source.dlt_internals import (
        ConfigFieldMissingException,
        ConfigValueCannotBeCoercedException,
        MissingDependencyException,
    )

    cause = root_cause(error)
    if isinstance(cause, KeyboardInterrupt):  # dlt wraps a Ctrl-C inside its steps
        return _interrupted()
    errors.print(f"error: {failure_text(cause)}", highlight=False, markup=False, soft_wrap=True)
    settings_errors = (
        MissingSettingError, ConfigFieldMissingException, ConfigValueCannotBeCoercedException,
        MissingDependencyException,
    )  # fmt: skip
    usage = isinstance(cause, ConfigurationError) and not isinstance(cause, TooManyExportsError)
    if usage or isinstance(cause, settings_errors):
        return 2
    return 1 if isinstance(cause, CoveoUAError) else 3


def _interrupted() -> int:
    errors.print(INTERRUPTED, highlight=False, markup=False, soft_wrap=True)
    return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coveo-ua",
        description="Load Coveo Usage Analytics data exports with dlt.\n\nEvery command "
        "reads its settings from, in this order: its flags; COVEO_UA_ACCESS_TOKEN;\n"
        "SOURCES__COVEO_UA__<NAME> environment variables;\n[sources.coveo_ua] in "
        ".dlt/secrets.toml and .dlt/config.toml.",
        formatter_class=_Formatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_init(commands)
    _add_demo(commands)
    _add_load(commands)
    _add_plan(commands)
    _add_exports(commands)
    _add_views(commands)
    _add_dimensions(commands)
    return parser


def _connection_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group(
        "connection (token: COVEO_UA_ACCESS_TOKEN, SOURCES__COVEO_UA__ACCESS_TOKEN or "
        ".dlt/secrets.toml)"
    )
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
    group.add_argument(
        "--destination",
        help="dlt destination name (default: as the pipeline's last load, else duckdb)",
    )
    group.add_argument(
        "--duckdb-file", help="DuckDB database file (default: dlt's, <pipeline-name>.duckdb)"
    )
    group.add_argument(
        "--credentials",
        help="destination credentials, e.g. a connection string (visible to other local "
        "users in the process list: prefer DESTINATION__<NAME>__CREDENTIALS or secrets.toml)",
    )
    group.add_argument(
        "--dataset-name",
        help="dataset to load into (default: as the pipeline's last load, else usage_analytics)",
    )
    _state_options(group)
    return options


def _state_options(group: Any) -> None:
    group.add_argument("--pipeline-name", default="coveo_ua", help="dlt pipeline (holds state)")
    group.add_argument(
        "--pipelines-dir", help="where dlt keeps pipeline state (default: ~/.dlt/pipelines)"
    )


def _max_exports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-exports", type=int,
        help=f"refuse a plan of more exports (default: {settings.DEFAULT_MAX_EXPORTS})",
    )  # fmt: skip


def _add_init(commands: Any) -> None:
    from coveo_ua_source.cli.scaffold import DESTINATIONS

    init = commands.add_parser(
        "init", formatter_class=_Formatter,
        help="start a project in the current folder: .dlt/config.toml (every option), "
        ".dlt/secrets.toml, the example pipelines; never overwrites a file",
    )  # fmt: skip
    init.add_argument(
        "destination", nargs="?", default="duckdb", choices=list(DESTINATIONS),
        metavar="DESTINATION",
        help=f"the dlt destination to load into, one of {', '.join(DESTINATIONS)}",
    )  # fmt: skip
    init.add_argument(
        "--airflow", action="store_true", help="also the daily and backfill Airflow DAGs (dags/)"
    )
    init.add_argument(
        "--dagster", action="store_true",
        help="also the Dagster definitions (coveo_ua_dagster.py)",
    )  # fmt: skip
    init.add_argument("--all", action="store_true", help="the Airflow DAGs and Dagster too")
    init.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    from coveo_ua_source.cli.scaffold import init_command

    return init_command(args)


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="load SIMULATED data from the local simulator into DuckDB",
        formatter_class=_Formatter,
    )  # fmt: skip
    demo.add_argument("--database", default="coveo_ua.duckdb", help="DuckDB file to load")
    demo.add_argument(
        "--pipelines-dir", default=".coveo_ua/pipelines", help="where dlt keeps pipeline state"
    )
    demo.set_defaults(handler=run.demo_command)


def _add_load(commands: Any) -> None:
    parents = [_connection_options(), _range_options(), _pipeline_options()]
    load = commands.add_parser(
        "load", parents=parents, formatter_class=_Formatter,
        help="load Coveo UA exports into a dlt destination (incremental)",
        epilog=config_only_help(),
    )  # fmt: skip
    _max_exports(load)
    load.add_argument(
        "--export-format", choices=["EXCEL", "NO_NEWLINE"], default=None, type=_upper,
        help="CSV dialect, any case (default: EXCEL)",
    )  # fmt: skip
    load.add_argument(
        "--no-progress", action="store_true",
        help="no progress display (none either when the output is not a terminal)",
    )  # fmt: skip
    load.add_argument(
        "-v", "--verbose", action="store_true",
        help="a line per table-window loaded, and every warning (not only the first of "
        "each kind)",
    )  # fmt: skip
    load.add_argument("--no-views", action="store_true", help="do not (re)create SQL views")
    load.add_argument(
        "--json", action="store_true",
        help="print only the run's summary, one JSON object (fields: docs/operations.md)",
    )  # fmt: skip
    load.set_defaults(handler=run.load_command)


def _upper(value: str) -> str:
    """Choices given in any case, as the source takes them."""
    return value.strip().upper()


def _add_plan(commands: Any) -> None:
    plan = commands.add_parser(
        "plan", parents=[_connection_options(), _range_options(), _pipeline_options()],
        formatter_class=_Formatter,
        help="show the exports, estimated rows and duration of the next load (from the "
        "pipeline's state, restored from the destination); creates nothing",
    )  # fmt: skip
    _max_exports(plan)
    plan.add_argument("--windows", action="store_true", help="also list every window")
    plan.set_defaults(handler=run.plan_command)


def _add_exports(commands: Any) -> None:
    exports = commands.add_parser("exports", help="list, delete or prune the org's exports")
    actions = exports.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[_connection_options()], formatter_class=_Formatter,
        help="list the organization's exports (tab-separated when piped)",
    )  # fmt: skip
    shape = listing.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="a JSON array of export objects")
    shape.add_argument("--ids-only", action="store_true", help="only the ids, one per line")
    listing.add_argument(
        "--mine", action="store_true", help="only the exports coveo-ua-source created"
    )
    listing.set_defaults(handler=export_commands.exports_list_command)
    delete = actions.add_parser(
        "delete", parents=[_connection_options()], formatter_class=_Formatter,
        help="delete exports by id",
    )  # fmt: skip
    delete.add_argument(
        "ids", nargs="+", metavar="ID", help="export id; - reads ids from stdin, one per line"
    )
    delete.set_defaults(handler=export_commands.exports_delete_command)
    _add_prune(actions)


def _add_prune(actions: Any) -> None:
    prune = actions.add_parser(
        "prune", parents=[_connection_options(), _pipeline_options()], formatter_class=_Formatter,
        help="delete the exports coveo-ua-source created for windows the pipeline has loaded",
    )  # fmt: skip
    prune.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    prune.set_defaults(handler=export_commands.exports_prune_command)


def _add_views(commands: Any) -> None:
    views = commands.add_parser(
        "views", parents=[_pipeline_options()], formatter_class=_Formatter,
        help="(re)create the SQL views over the loaded tables, or print their SQL",
    )  # fmt: skip
    views.add_argument(
        "--print-sql", action="store_true",
        help="print the CREATE VIEW statements for --dialect and --dataset-name instead of "
        "creating views (for a warehouse where the connector does not create them)",
    )  # fmt: skip
    views.add_argument(
        "--dialect", choices=DIALECTS, default="duckdb",
        help="SQL dialect of --print-sql (BigQuery: --dataset-name project.dataset)",
    )  # fmt: skip
    views.set_defaults(handler=run.views_command)


def _add_dimensions(commands: Any) -> None:
    dimensions = commands.add_parser(
        "dimensions", parents=[_connection_options(), _pipeline_options()],
        formatter_class=_Formatter,
        help="list the exportable dimensions and how the pipeline loaded each",
    )  # fmt: skip
    dimensions.add_argument("--json", action="store_true", help="print JSON instead of a table")
    dimensions.set_defaults(handler=_dimensions)


def _dimensions(args: argparse.Namespace) -> int:
    # imported here: it loads pyarrow, which would slow `coveo-ua --help`
    from coveo_ua_source.cli.dimensions import dimensions_command

    return dimensions_command(args)
