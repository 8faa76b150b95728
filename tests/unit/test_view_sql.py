"""The views' SQL rendered for each dialect, compared with its golden file.

The golden files (tests/golden/views/<dialect>.sql) are what ``coveo-ua views --print-sql
--dialect <dialect>`` prints for the default dataset. After a deliberate change to the views
or to sqlglot, write them again with ``COVEO_UA_UPDATE_GOLDEN=1 pytest tests/unit/test_view_sql.py``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coveo_ua_source.cli.main import main
from coveo_ua_source.cli.pipeline import DEFAULT_DATASET
from coveo_ua_source.warehouse.views import DIALECTS, VIEWS, view_script, view_statements

GOLDEN = Path(__file__).parents[1] / "golden" / "views"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialect_renders_its_golden_file(dialect: str) -> None:
    rendered = view_script(dialect, DEFAULT_DATASET)
    golden = GOLDEN / f"{dialect}.sql"
    if os.environ.get("COVEO_UA_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_view_is_rendered_for_every_dialect(dialect: str) -> None:
    assert [name for name, _ in view_statements(dialect, "analytics")] == list(VIEWS)


def test_snowflake_names_are_upper_case_as_dlt_folds_them() -> None:
    script = view_script("snowflake", "analytics")
    assert 'CREATE OR REPLACE VIEW "ANALYTICS"."TOP_QUERIES" AS' in script
    assert 'FROM "ANALYTICS"."SEARCHES" AS s' in script
    assert '"search_id"' not in script


def test_bigquery_views_are_named_with_project_and_dataset() -> None:
    script = view_script("bigquery", "my-project.analytics")
    assert "CREATE OR REPLACE VIEW `my-project`.`analytics`.`all_events` AS" in script
    assert "FROM `my-project`.`analytics`.`clicks` AS c" in script


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_views_whose_columns_cannot_be_replaced_are_dropped_then_created(dialect: str) -> None:
    statements = dict(view_statements(dialect, "analytics"))["top_queries"]
    assert statements[0] == 'DROP VIEW IF EXISTS "analytics"."top_queries"'
    assert statements[1].startswith('CREATE VIEW "analytics"."top_queries" AS\n')


def test_the_day_is_the_utc_date_in_each_dialect() -> None:
    days = {
        dialect: dict(view_statements(dialect, "a"))["average_click_rank"][-1].splitlines()[2]
        for dialect in DIALECTS
    }
    assert days == {
        "duckdb": '  CAST(c."datetime" AT TIME ZONE \'UTC\' AS DATE) AS "day",',
        "postgres": '  CAST(c."datetime" AT TIME ZONE \'UTC\' AS DATE) AS "day",',
        "redshift": '  CAST(c."datetime" AT TIME ZONE \'UTC\' AS DATE) AS "day",',
        "bigquery": "  CAST(TIMESTAMP(DATETIME(c.`datetime`, 'UTC')) AS DATE) AS `day`,",
        "snowflake": '  CAST(CONVERT_TIMEZONE(\'UTC\', c."DATETIME") AS DATE) AS "DAY",',
        "databricks": "  CAST(FROM_UTC_TIMESTAMP(c.`datetime`, 'UTC') AS DATE) AS `day`,",
    }


def test_print_sql_prints_the_script_without_a_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(
        ["views", "--print-sql", "--dialect", "snowflake", "--dataset-name", "analytics",
         "--pipelines-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == view_script("snowflake", "analytics")
    assert list(tmp_path.iterdir()) == [], "no pipeline made"
