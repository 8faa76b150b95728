"""Every `coveo-ua` command as a new user runs it: the connection and the destination only
in `.dlt/config.toml` and `.dlt/secrets.toml`, each command a fresh process with a fresh
DLT_DATA_DIR and no flag but its own, on DuckDB and on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dlt
import pytest
from helpers import assert_loaded_match, forked, loaded_tables, utc
from helpers.cli import cli_environment, write_dlt_config
from helpers.postgres import postgres_url

from coveo_ua_simulator import Simulator
from coveo_ua_source.schema import TABLES

START, END = utc(2024, 4, 1), utc(2024, 4, 3)
MAIN = "coveo_ua_source.cli.main:main"


def configure_destination(project: Path, destination: str, dataset: str) -> dlt.Pipeline:
    """``[coveo_ua]`` names the destination and dataset (and the PostgreSQL credentials go
    in secrets.toml); returns a pipeline that reads what the commands loaded."""
    lines = ["", "[coveo_ua]", f'destination = "{destination}"', f'dataset_name = "{dataset}"']
    if destination == "duckdb":
        lines.append('duckdb_file = "warehouse/ua.duckdb"')
        (project / "warehouse").mkdir()
        target = dlt.destinations.duckdb(str(project / "warehouse" / "ua.duckdb"))
    else:
        with (project / ".dlt" / "secrets.toml").open("a", encoding="utf-8") as secrets:
            secrets.write(f'\n[destination.postgres]\ncredentials = "{postgres_url()}"\n')
        target = dlt.destinations.postgres(postgres_url())
    with (project / ".dlt" / "config.toml").open("a", encoding="utf-8") as config:
        config.write("\n".join(lines) + "\n")
    return dlt.pipeline(
        pipeline_name=f"reader_{dataset}",
        destination=target,
        dataset_name=dataset,
        pipelines_dir=str(project / "reader"),
    )


@pytest.mark.parametrize(
    "destination", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_every_command_runs_from_config_alone(
    destination: str, simulator: Simulator, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_dlt_config(
        project, simulator, start_date="2024-04-01", end_date="2024-04-03", keep_exports=True
    )
    dataset = f"config_only_{uuid.uuid4().hex[:8]}"
    reader = configure_destination(project, destination, dataset)

    def run(*argv: str) -> str:
        environment = cli_environment(tmp_path / f"run_{uuid.uuid4().hex[:6]}")
        label = "_".join(argv[:2]).replace("-", "")
        return forked.output_of(MAIN, argv, environment=environment, cwd=project, label=label)

    try:
        assert "2 export(s) planned" in run("plan")
        assert simulator.created_count == 0, "plan creates nothing"
        loaded = json.loads(run("load", "--json"))
        assert loaded["destination"] == destination
        assert loaded["dataset_name"] == dataset
        assert_loaded_match(loaded_tables(reader, TABLES), simulator, END, start=START)
        assert "0 export(s) planned" in run("plan"), "a fresh worker finds the loaded windows"
        assert "all_events" in run("views")
        listed = json.loads(run("exports", "list", "--json"))
        assert sorted(item["id"] for item in listed) == sorted(simulator.exports)
        assert "deleted 2 export(s)" in run("exports", "prune")
        assert all(export.deleted for export in simulator.exports.values())
        dimensions = {row["return_name"]: row for row in json.loads(run("dimensions", "--json"))}
        assert dimensions["custom_events.c_cart_value"]["loaded"] == {"c_cart_value": "double"}
        databases = sorted(p.relative_to(project) for p in project.rglob("*.duckdb"))
        named = [Path("warehouse/ua.duckdb")] if destination == "duckdb" else []
        assert databases == named, "no database the configuration did not name"
    finally:
        if destination == "postgres":
            with reader.sql_client() as client:
                for schema in (dataset, f"{dataset}_staging"):
                    client.execute_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
