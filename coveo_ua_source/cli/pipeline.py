"""The dlt pipeline the CLI loads into, and where its data ends up, said without secrets."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from coveo_ua_source.configuration import MissingSettingError

# Destinations whose SQL views would not outlive the command (no engine keeps them).
NO_VIEWS_DESTINATIONS = frozenset({"filesystem"})
UNKNOWN_LOCATION = "as configured for the destination (see its dlt configuration)"


def make_pipeline(args: argparse.Namespace) -> Any:
    """The pipeline named by --pipeline-name, --destination, --duckdb-file, --credentials."""
    import dlt

    from coveo_ua_source.warehouse.lean_defaults import lean_load_defaults

    destination = _destination(args)
    lean_load_defaults(
        destination if isinstance(destination, str) else destination.destination_type
    )
    options: dict[str, Any] = {
        "pipeline_name": args.pipeline_name,
        "destination": destination,
        "dataset_name": args.dataset_name,
    }
    if getattr(args, "pipelines_dir", None):
        options["pipelines_dir"] = str(Path(args.pipelines_dir).resolve())
    return dlt.pipeline(**options)


def _destination(args: argparse.Namespace) -> Any:
    import dlt
    from dlt.common.destination.reference import Destination

    duckdb_file = getattr(args, "duckdb_file", None)
    credentials = getattr(args, "credentials", None)
    if duckdb_file:
        if args.destination != "duckdb" or credentials:
            raise MissingSettingError(
                "--duckdb-file names a DuckDB file: use it with --destination duckdb and "
                "without --credentials"
            )
        return dlt.destinations.duckdb(str(Path(duckdb_file).resolve()))
    if credentials:
        return Destination.from_reference(args.destination, credentials=credentials)
    return args.destination


def destination_type(pipeline: Any) -> str:
    return str(pipeline.destination.destination_type).rsplit(".", 1)[-1]


def keeps_views(pipeline: Any) -> bool:
    return destination_type(pipeline) not in NO_VIEWS_DESTINATIONS


def location(pipeline: Any) -> str:
    """Where the destination keeps the data: a file, a host and database, or a bucket URL."""
    try:
        config = pipeline.destination_client().config
    except Exception:  # the data is loaded; the summary must not fail on reading its config
        return UNKNOWN_LOCATION
    bucket_url = getattr(config, "bucket_url", None)
    if bucket_url:
        return without_userinfo(str(bucket_url))
    credentials = getattr(config, "credentials", None)
    host = getattr(credentials, "host", None)
    database = getattr(credentials, "database", None)
    if host:
        port = getattr(credentials, "port", None)
        address = f"{host}:{port}" if port else str(host)
        return f"host {address}, database {database}" if database else f"host {address}"
    if database and destination_type(pipeline) == "duckdb":
        return f"file {Path(str(database)).resolve()}"
    if database:
        return f"database {database}"
    return UNKNOWN_LOCATION


def without_userinfo(url: str) -> str:
    """The URL without user name or password (bucket URLs can carry keys)."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def where_rows(pipeline: Any) -> list[tuple[str, str]]:
    """The lines that end a load summary: where the data is and how to find it again."""
    return [
        ("destination", destination_type(pipeline)),
        ("location", location(pipeline)),
        ("dataset", str(pipeline.dataset_name)),
        ("pipeline", str(pipeline.pipeline_name)),
        ("pipelines folder", str(pipeline.pipelines_dir)),
    ]
