"""`coveo-ua exports list | delete | prune`: the org's exports, scriptable.

``list`` prints full ids: a table on a terminal, tab-separated lines in a pipe, JSON with
``--json``, bare ids with ``--ids-only``. ``delete -`` reads ids from stdin (the first
field of each line), so ``coveo-ua exports list --ids-only | coveo-ua exports delete -``
works. ``prune`` deletes the exports this connector made for windows a pipeline has loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from rich.table import Table

from coveo_ua_source.api_types import ExportInfo
from coveo_ua_source.cli_config import MissingSettingError, client_from_config
from coveo_ua_source.commands import attached_pipeline, console, source_config
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.schema import TABLES
from coveo_ua_source.windows import Window, parse_datetime

# The first word of the description every export of this connector carries (reattach.py).
TAG = "coveo-ua-source"
_WINDOW = re.compile(r"\[(?P<start>[^,\]\s]+),\s*(?P<end>[^)\s]+)\)\s+(?P<tables>\S+)\s*$")


def exports_list_command(args: argparse.Namespace) -> int:
    exports = client_from_config(source_config(args)).list_exports()
    if args.mine:
        exports = [info for info in exports if is_ours(info)]
    if args.json:
        print(json.dumps([export_object(info) for info in exports], indent=2))
    elif args.ids_only:
        print("".join(f"{info.id}\n" for info in exports), end="")
    elif sys.stdout.isatty():
        console.print(_table(exports))
    else:
        print("".join("\t".join(_fields(info)) + "\n" for info in exports), end="")
    return 0


def _table(exports: list[ExportInfo]) -> Table:
    """A terminal table whose id column is never cut (ids are for copying)."""
    table = Table(title=f"{len(exports)} export(s)", title_justify="left")
    widest = max((len(info.id) for info in exports), default=2)
    table.add_column("id", no_wrap=True, min_width=widest)
    for header in ("status", "from", "to", "tables", "description"):
        table.add_column(header, overflow="fold")
    for info in exports:
        table.add_row(*_fields(info))
    return table


def export_object(info: ExportInfo) -> dict[str, Any]:
    """The export as JSON: its API fields without the pre-signed download link."""
    return {
        "id": info.id,
        "status": info.status,
        "from": _iso(info.start),
        "to": _iso(info.end),
        "tables": list(info.tables),
        "description": info.description,
        "size": info.size,
        "created_by_coveo_ua_source": is_ours(info),
    }


def _fields(info: ExportInfo) -> tuple[str, ...]:
    tables = ",".join(info.tables)
    description = (info.description or "").replace("\t", " ").replace("\n", " ")
    return (info.id, info.status, _iso(info.start), _iso(info.end), tables, description)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def exports_delete_command(args: argparse.Namespace) -> int:
    ids = ids_from_lines(sys.stdin) if args.ids == ["-"] else list(args.ids)
    if not ids:
        console.print("no export id given; nothing deleted")
        return 0
    client = client_from_config(source_config(args))
    for export_id in ids:
        client.delete_export(export_id)
        console.print(f"deleted {export_id}", highlight=False)
    return 0


def ids_from_lines(lines: Iterable[str] | TextIO) -> list[str]:
    """The first field of each non-empty line; a header line ``id ...`` is skipped."""
    ids: list[str] = []
    for line in lines:
        fields = line.split()
        if fields and fields[0].lower() != "id" and not fields[0].startswith("#"):
            ids.append(fields[0])
    return ids


def is_ours(info: ExportInfo) -> bool:
    description = (info.description or "").split(maxsplit=1)
    return bool(description) and description[0] == TAG


@dataclass(frozen=True)
class Described:
    """The window and tables an export of this connector was made for."""

    window: Window
    tables: tuple[str, ...]


def described(info: ExportInfo) -> Described | None:
    """Window and tables from the description's end, else from the export object itself."""
    match = _WINDOW.search(info.description or "")
    if match is not None:
        with contextlib.suppress(ConfigurationError):  # not a window after all: use the object
            start = parse_datetime(match["start"].replace("Z", "+00:00"), "from")
            end = parse_datetime(match["end"].replace("Z", "+00:00"), "to")
            return Described(Window(start, end), tuple(match["tables"].split(",")))
    if info.start is None or info.end is None:
        return None
    return Described(Window(info.start, info.end), info.tables)


def prune_verdict(
    info: ExportInfo, positions: Mapping[str, datetime | None], pipeline_name: str
) -> str | None:
    """None when the export may go; otherwise why it is kept."""
    if not is_ours(info):
        return f"not created by {TAG}"
    if _made_by_another_pipeline(info, pipeline_name):
        return "created by another pipeline"
    made_for = described(info)
    if made_for is None:
        return "window unknown"
    behind = [t for t in made_for.tables if not _loaded(positions.get(t), made_for.window)]
    return "window not loaded yet by this pipeline" if behind else None


def _made_by_another_pipeline(info: ExportInfo, pipeline_name: str) -> bool:
    """Descriptions that name a pipeline ("<tag> <pipeline> <digest> [window) tables")."""
    between = (info.description or "").split("[", 1)[0].split()[1:]
    return len(between) >= 2 and pipeline_name not in between


def _loaded(position: datetime | None, window: Window) -> bool:
    return position is not None and position >= window.end


def exports_prune_command(args: argparse.Namespace) -> int:
    positions = _loaded_positions(args)
    client = client_from_config(source_config(args))
    kept: Counter[str] = Counter()
    deleted = 0
    for info in client.list_exports():
        reason = prune_verdict(info, positions, args.pipeline_name)
        if reason is not None:
            kept[reason] += 1
            continue
        if not args.dry_run:
            client.delete_export(info.id)
        deleted += 1
        console.print(f"{'would delete' if args.dry_run else 'deleted'} {info.id}", highlight=False)
    why = "; ".join(f"{count} {reason}" for reason, count in sorted(kept.items()))
    verb = "would delete" if args.dry_run else "deleted"
    console.print(
        f"{verb} {deleted} export(s) whose windows pipeline {args.pipeline_name} has loaded; "
        f"kept {sum(kept.values())}" + (f" ({why})" if why else ""),
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    return 0


def _loaded_positions(args: argparse.Namespace) -> dict[str, datetime | None]:
    from coveo_ua_source.source import positions_from_state

    pipeline = attached_pipeline(args)
    if pipeline is None:
        raise MissingSettingError(
            f"no state for pipeline {args.pipeline_name!r} here: pass the --pipeline-name "
            "and --pipelines-dir the loads use, so that prune knows which windows are loaded"
        )
    state = pipeline.state.get("sources", {}).get("coveo_ua", {})
    return positions_from_state(state, TABLES)
