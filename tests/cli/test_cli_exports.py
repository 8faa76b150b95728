"""`coveo-ua exports`: full ids, JSON, ids from stdin, and pruning what the loads left."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest
from helpers import TOKEN, utc
from helpers.open_database import database_kept_open

from coveo_ua_simulator import Simulator
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.cli.exports import ids_from_lines
from coveo_ua_source.cli.main import main
from coveo_ua_source.dates import Window
from coveo_ua_source.exports.lifecycle import ExportIdentity
from coveo_ua_source.exports.types import ExportRequest
from coveo_ua_source.exports.windows import PlannedExport

# Two tables load as five do (one export a day), in less time.
LOADED = ["--start-date", "2024-04-01", "--end-date", "2024-04-03", "--tables", "searches,clicks"]
STATE = ["--pipeline-name", "prune_test", "--pipelines-dir", "pipelines"]
WAREHOUSE = ["--duckdb-file", "prune.duckdb"]


def create(simulator: Simulator, day: int, description: str | None) -> str:
    client = CoveoClient(TOKEN, base_url=simulator.api_root)
    info = client.create_export(
        utc(2024, 5, day), utc(2024, 5, day + 1), tables=["searches"], description=description
    )
    return str(info.id)


def described(
    simulator: Simulator, pipeline: str, month: int, day: int, tables: tuple[str, ...]
) -> str:
    """The description the connector gives a pipeline's export of one day."""
    identity = ExportIdentity.of(simulator.api_root, pipeline, ExportRequest())
    window = Window(utc(2024, month, day), utc(2024, month, day + 1))
    return identity.describe(PlannedExport(window, tables))  # type: ignore[arg-type]


def test_list_prints_full_ids_as_json_tsv_and_table(
    connected: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = create(connected, 1, described(connected, "any", 5, 1, ("searches",)))
    foreign = create(connected, 2, "a report for marketing")
    assert main(["exports", "list", "--json"]) == 0
    listed = {item["id"]: item for item in json.loads(capsys.readouterr().out)}
    assert set(listed) == {ours, foreign}
    assert listed[ours]["created_by_coveo_ua_source"] is True
    assert listed[foreign]["from"] == "2024-05-02T00:00:00+00:00"
    assert listed[foreign]["to"] == "2024-05-03T00:00:00+00:00"
    assert "downloadLink" not in json.dumps(listed), "pre-signed links stay out of the output"
    assert main(["exports", "list"]) == 0  # stdout is not a terminal: tab-separated lines
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split("\t")[0] for line in lines) == sorted([ours, foreign])
    assert main(["exports", "list", "--mine", "--ids-only"]) == 0
    assert capsys.readouterr().out == f"{ours}\n"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "130")
    assert main(["exports", "list"]) == 0
    table = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # no colours
    rows = [line for line in table.splitlines() if ours in line or foreign in line]
    assert len(rows) == 2, "ids are never cut on a terminal, and an export takes one line"
    assert max(len(line) for line in table.splitlines()) <= 130
    assert "…" in next(row for row in rows if ours in row), "a long description is cut"


def test_delete_dash_reads_ids_from_stdin(
    connected: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, kept = (create(connected, day, None) for day in (1, 2, 3))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"id\tstatus\n{first}\tAVAILABLE\n\n{second}\n"))
    assert main(["exports", "delete", "-"]) == 0
    assert connected.exports[first].deleted
    assert connected.exports[second].deleted
    assert not connected.exports[kept].deleted
    assert capsys.readouterr().out.split() == ["deleted", first, "deleted", second]


def test_ids_from_lines_takes_the_first_field() -> None:
    lines = ["# exports to drop\n", "id status\n", "  a1\tPENDING\n", "\n", "b2\n"]
    assert ids_from_lines(lines) == ["a1", "b2"]


def test_prune_deletes_loaded_windows_and_says_what_it_kept(
    connected: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOURCES__COVEO_UA__KEEP_EXPORTS", "true")
    with database_kept_open(Path(WAREHOUSE[1])):  # helpers/open_database.py
        load = ["load", *LOADED, *STATE, *WAREHOUSE, "--no-progress"]
        assert main(load) == 0
        loaded = set(connected.exports)
        assert len(loaded) == 2
        named = create(connected, 1, described(connected, "prune_test", 4, 1, ("searches",)))
        later = create(connected, 9, described(connected, "prune_test", 5, 9, ("searches",)))
        foreign = create(connected, 1, None)
        other = create(connected, 1, described(connected, "other_pipeline", 4, 1, ("searches",)))
        capsys.readouterr()
        assert main(["exports", "prune", *STATE, *WAREHOUSE, "--dry-run"]) == 0
        assert "would delete 3 export(s)" in capsys.readouterr().out
        assert not any(export.deleted for export in connected.exports.values())
        assert main(["exports", "prune", *STATE, *WAREHOUSE]) == 0
        output = capsys.readouterr().out
        assert {e for e, export in connected.exports.items() if export.deleted} == {*loaded, named}
        assert not connected.exports[later].deleted
        assert not connected.exports[foreign].deleted
        assert not connected.exports[other].deleted
        assert "deleted 3 export(s) whose windows pipeline prune_test has loaded; kept 3" in output
        assert "1 created by another pipeline" in output
        assert "1 not created by coveo-ua-source" in output
        assert "1 window not loaded yet by this pipeline" in output


def test_prune_without_pipeline_state_says_where_to_point_it(
    connected: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    create(connected, 1, None)
    assert main(["exports", "prune", *STATE, *WAREHOUSE]) == 2
    assert "--destination" in capsys.readouterr().err
    assert not any(export.deleted for export in connected.exports.values())
