"""The dlt pipeline the CLI loads into, and where its data ends up, said without secrets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from coveo_ua_source.configuration import MissingSettingError

# Destinations whose SQL views would not outlive the command (no engine keeps them).
NO_VIEWS_DESTINATIONS = frozenset({"filesystem"})
UNKNOWN_LOCATION = "as configured for the destination (see its dlt configuration)"


DEFAULT_DESTINATION = "duckdb"
DEFAULT_DATASET = "usage_analytics"
# What a load through the CLI used, in the pipeline's working folder: the next command
# that names the pipeline loads into, reads and makes views in the same place. No secret.
RECORD_FILE = "coveo_ua_destination.json"
RECORDED = ("destination", "duckdb_file", "dataset_name")


def make_pipeline(args: argparse.Namespace, *, loading: bool = False) -> Any:
    """The pipeline named by --pipeline-name, loading where its options say: the flags,
    then ``[coveo_ua]`` in the dlt config (or ``COVEO_UA__<OPTION>``), then what the last
    load of this pipeline recorded, then DuckDB. Only a load may start a new database."""
    import dlt

    from coveo_ua_source.warehouse.lean_defaults import lean_load_defaults

    chosen = chosen_destination(args)
    if not loading and not chosen["known"]:
        raise MissingSettingError(
            f"no destination known for pipeline {args.pipeline_name!r}: no load of it is "
            "recorded in this pipelines folder; pass --destination (and --duckdb-file or "
            "--dataset-name), or set them under [coveo_ua] in .dlt/config.toml"
        )
    destination = _destination(chosen, getattr(args, "credentials", None))
    lean_load_defaults(
        destination if isinstance(destination, str) else destination.destination_type
    )
    options: dict[str, Any] = {
        "pipeline_name": args.pipeline_name,
        "destination": destination,
        "dataset_name": chosen["dataset_name"],
    }
    if _pipelines_dir(args):
        options["pipelines_dir"] = _pipelines_dir(args)
    return dlt.pipeline(**options)


def pipeline_if_known(args: argparse.Namespace) -> Any:
    """``make_pipeline`` when a destination is named or recorded for it; else None."""
    return make_pipeline(args) if chosen_destination(args)["known"] else None


def with_schema_restored(pipeline: Any) -> Any:
    """The pipeline with the schema and state its destination holds when its folder has
    none (a fresh worker, a new DLT_DATA_DIR): read-only commands then see what was loaded."""
    if not pipeline.schema_names:
        pipeline.sync_destination()
    return pipeline


def chosen_destination(args: argparse.Namespace) -> dict[str, Any]:
    """destination, duckdb_file and dataset_name, each from the first place that sets it;
    ``known``: whether anything but the defaults named them."""
    import dlt

    recorded = _recorded(args)
    chosen: dict[str, Any] = {"known": bool(recorded) or bool(getattr(args, "credentials", None))}
    for name in RECORDED:
        flag = getattr(args, name, None)
        configured: Any = dlt.config.get(f"coveo_ua.{name}")
        value = next((v for v in (flag, configured, recorded.get(name)) if v), None)
        chosen["known"] = chosen["known"] or bool(flag or configured)
        chosen[name] = value
    other_destination = chosen["destination"] not in (None, DEFAULT_DESTINATION)
    if chosen["duckdb_file"] and other_destination and not getattr(args, "duckdb_file", None):
        chosen["duckdb_file"] = None  # recorded for DuckDB, another destination asked
    chosen["destination"] = chosen["destination"] or DEFAULT_DESTINATION
    chosen["dataset_name"] = chosen["dataset_name"] or DEFAULT_DATASET
    # dlt's own credentials of the destination name where it is, too
    chosen["known"] = chosen["known"] or _has_credentials(chosen["destination"])
    return chosen


def _has_credentials(destination: str) -> bool:
    import dlt

    key = f"destination.{destination}.credentials"
    secret: Any = dlt.secrets.get(key)
    configured: Any = dlt.config.get(key)
    return bool(secret or configured)


def remember_destination(pipeline: Any, args: argparse.Namespace) -> None:
    """Record where this load went, for the next command naming the pipeline."""
    chosen = chosen_destination(args)
    duckdb_file = chosen["duckdb_file"]
    record = {
        "destination": destination_type(pipeline),
        "duckdb_file": str(Path(duckdb_file).resolve()) if duckdb_file else None,
        "dataset_name": str(pipeline.dataset_name),
    }
    (Path(pipeline.working_dir) / RECORD_FILE).write_text(json.dumps(record), "utf-8")


def _recorded(args: argparse.Namespace) -> dict[str, Any]:
    import dlt

    folder = Path(_pipelines_dir(args) or dlt.current.run_context().get_data_entity("pipelines"))
    path = folder / args.pipeline_name / RECORD_FILE
    try:
        return dict(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError):
        return {}


def _pipelines_dir(args: argparse.Namespace) -> str | None:
    folder = getattr(args, "pipelines_dir", None)
    return str(Path(folder).resolve()) if folder else None


def _destination(chosen: dict[str, Any], credentials: str | None) -> Any:
    import dlt

    from coveo_ua_source.dlt_internals import destination_with_credentials

    duckdb_file = chosen["duckdb_file"]
    if duckdb_file:
        if chosen["destination"] != DEFAULT_DESTINATION or credentials:
            raise MissingSettingError(
                "--duckdb-file names a DuckDB file: use it with --destination duckdb and "
                "without --credentials"
            )
        return dlt.destinations.duckdb(str(Path(duckdb_file).resolve()))
    if credentials:
        return destination_with_credentials(chosen["destination"], credentials)
    return chosen["destination"]


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
