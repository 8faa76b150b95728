"""`coveo-ua exports list | delete | prune`: the org's exports, scriptable.

``list`` prints full ids: a table on a terminal, tab-separated lines in a pipe, JSON with
``--json``, bare ids with ``--ids-only``. ``delete -`` reads ids from stdin (the first
field of each line), so ``coveo-ua exports list --ids-only | coveo-ua exports delete -``
works. ``prune`` deletes the exports this connector made for windows a pipeline has loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from coveo_ua_source.api.models import ExportInfo
from coveo_ua_source.cli.commands import console, source_config
from coveo_ua_source.cli.tables import titled_table
from coveo_ua_source.configuration import MissingSettingError, client_from_config
from coveo_ua_source.exports.lifecycle import TAG, covered, parse_description, scope_of
from coveo_ua_source.schema import TABLES


def exports_list_command(args: argparse.Namespace) -> int:
    exports = client_from_config(source_config(args)).list_exports()
    if args.mine:
        exports = [info for info in exports if is_ours(info)]
    if args.json:
        print(json.dumps([export_object(info) for info in exports], indent=2))
    elif args.ids_only:
        print("".join(f"{info.id}\n" for info in exports), end="")
    elif sys.stdout.isatty():
        terminal = Console()  # the terminal's own width: one line per export
        terminal.print(_table(exports, terminal))
    else:
        print("".join("\t".join(_fields(info)) + "\n" for info in exports), end="")
    return 0


def _table(exports: list[ExportInfo], terminal: Console) -> Table:
    """A terminal table of one line per export: the id and dates are never cut (ids are
    for copying), the description gets the width left (``--json`` has it whole)."""
    table = titled_table(terminal, f"{len(exports)} export(s)")
    rows = [_terminal_fields(info) for info in exports]
    headers = ("id", "status", "from", "to", "tables")
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(len(headers))]
    for header, width in zip(headers, widths, strict=True):
        table.add_column(header, no_wrap=True, min_width=max(width, len(header)))
    borders = 3 * (len(headers) + 1) + 1
    left = max(12, terminal.width - sum(max(w, 6) for w in widths) - borders)
    table.add_column("description", no_wrap=True, overflow="ellipsis", max_width=left)
    for row in rows:
        table.add_row(*row)
    return table


def _terminal_fields(info: ExportInfo) -> tuple[str, ...]:
    tables = "all" if set(info.tables) == set(TABLES) else ",".join(info.tables)
    description = _fields(info)[-1]
    return (info.id, info.status, _minute(info.start), _minute(info.end), tables, description)


def _minute(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%MZ}" if moment is not None else ""


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
    return (info.description or "").startswith(f"{TAG} ")


def prune_verdict(
    info: ExportInfo, positions: Mapping[str, datetime | None], scope: str
) -> str | None:
    """None when the export may go; otherwise why it is kept."""
    if not is_ours(info):
        return f"not created by {TAG}"
    made_for = parse_description(info.description)
    if made_for is None:
        return "description not readable"
    if made_for.scope != scope:
        return "created by another pipeline"
    return None if covered(made_for, positions) else "window not loaded yet by this pipeline"


def exports_prune_command(args: argparse.Namespace) -> int:
    positions = _loaded_positions(args)
    client = client_from_config(source_config(args))
    scope = scope_of(client.api_root, args.pipeline_name)
    kept: Counter[str] = Counter()
    deleted = 0
    for info in client.list_exports():
        reason = prune_verdict(info, positions, scope)
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
    """Where each table stands, as the destination's latest completed load recorded it."""
    from coveo_ua_source.cli.pipeline import make_pipeline
    from coveo_ua_source.runs.plan import positions_from_state
    from coveo_ua_source.runs.turns import reading_destination

    with reading_destination(make_pipeline(args)) as view:
        committed = view.committed_state()
    state = None if committed is None else committed.source_state
    if not state:
        raise MissingSettingError(
            f"no state for pipeline {args.pipeline_name!r}: pass the --pipeline-name, "
            "--destination (and --duckdb-file or --credentials) the loads use, so that prune "
            "knows which windows are loaded"
        )
    return positions_from_state(state, TABLES)
