"""``coveo-ua dimensions``: the exportable dimensions, and which the pipeline loaded as what.

Asks ``/v15/dimensions/exportables`` and prints, per dimension, its return name, display
name, Coveo type, whether it is custom, its event types, the type the connector loads it as
and the column(s) the pipeline's schema has for it (``c_x`` and any variant ``c_x__v_text``
left by a type change). The pipeline's schema is read from its local working directory
(``--pipeline-name``, ``--pipelines-dir``); a pipeline never run there shows nothing loaded.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

import dlt
from rich.console import Console

from coveo_ua_source.cli.commands import source_config
from coveo_ua_source.cli.tables import titled_table
from coveo_ua_source.configuration import client_from_config
from coveo_ua_source.dlt_internals import CannotRestorePipelineException
from coveo_ua_source.ingest.custom_dimensions import Dimension, parse_exportables
from coveo_ua_source.schema import COLUMNS

HEADERS = ("return_name", "display_name", "type", "custom", "event_types", "loads_as", "loaded")

# {table: {column: dlt data type}} of a pipeline's schema
TLoadedColumns = Mapping[str, Mapping[str, str]]


def dimensions_command(args: argparse.Namespace) -> int:
    """Print the exportable dimensions as a table, or as JSON with ``--json``."""
    dimensions = parse_exportables(client_from_config(source_config(args)).exportable_dimensions())
    rows = dimension_rows(dimensions, loaded_columns(args))
    if args.json:
        print(json.dumps(rows, indent=2))  # machine-readable: no markup
        return 0
    terminal = Console()  # made here so that it takes the terminal's current width
    table = titled_table(terminal, f"Exportable dimensions ({len(rows)})")
    for header in HEADERS:
        table.add_column(header)
    for row in rows:
        loaded = ", ".join(f"{name} ({type_})" for name, type_ in row["loaded"].items())
        values = [*(row[h] for h in HEADERS[:4]), ",".join(row["event_types"])]
        table.add_row(*(str(v) for v in values), row["loads_as"], loaded or "-")
    terminal.print(table)
    return 0


def dimension_rows(dimensions: Sequence[Dimension], loaded: TLoadedColumns) -> list[dict[str, Any]]:
    """One JSON-ready row per dimension; ``loaded`` maps the pipeline's columns to types."""
    return [
        {
            "return_name": d.return_name,
            "display_name": d.display_name,
            "type": d.type,
            "custom": d.custom,
            "event_types": list(d.event_types),
            "loads_as": _loads_as(d),
            "loaded": loaded_as(d, loaded),
        }
        for d in dimensions
    ]


def _loads_as(dimension: Dimension) -> str:
    """The catalog's type for a known column, else the custom dimension rule (text if not c_*)."""
    for table, columns in COLUMNS.items():
        if dimension.table in (None, table):
            for column in columns:
                if column.api_name.lower() == dimension.column and not dimension.is_typed_custom:
                    return column.type
    return dimension.loads_as


def loaded_as(dimension: Dimension, loaded: TLoadedColumns) -> dict[str, str]:
    """The pipeline's columns holding ``dimension`` (its column and variants), with types.

    Return names are lower-cased API names (``searches.numberofresults``), so they are
    compared with the loaded snake_case names without underscores.
    """
    tables = [dimension.table] if dimension.table else list(loaded)
    wanted = dimension.column.replace("_", "")
    found: dict[str, str] = {}
    for table in tables:
        for name, type_ in loaded.get(table or "", {}).items():
            base = name.split("__v_")[0]
            if base.replace("_", "") == wanted:
                found[f"{table}.{name}" if not dimension.table else name] = type_
    return found


def loaded_columns(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """{table: {column: data type}} of the pipeline's schema, from its folder or, on a fresh
    worker, from its destination ({} when it was never loaded or has no known destination)."""
    schema = _local_schema(args) or _destination_schema(args)
    if schema is None:
        return {}
    return {
        table: {
            name: str(column["data_type"])
            for name, column in schema.get_table_columns(table).items()
            if column.get("data_type")
        }
        for table in schema.data_table_names()
    }


def _local_schema(args: argparse.Namespace) -> Any:
    """The schema in the pipeline's folder, whoever ran it (the CLI or the user's code)."""
    try:
        if args.pipelines_dir:
            pipeline = dlt.attach(args.pipeline_name, pipelines_dir=args.pipelines_dir)
        else:
            pipeline = dlt.attach(args.pipeline_name)
    except CannotRestorePipelineException:
        return None
    return pipeline.default_schema if pipeline.schema_names else None


def _destination_schema(args: argparse.Namespace) -> Any:
    """The schema stored in the destination the configuration names (a fresh worker)."""
    from coveo_ua_source.cli.pipeline import pipeline_if_known, with_schema_restored

    pipeline = pipeline_if_known(args)
    if pipeline is None or not with_schema_restored(pipeline).schema_names:
        return None
    return pipeline.default_schema
