"""SQL views over the loaded tables, written once and rendered per SQL dialect by sqlglot.

Each view's SELECT is written once, in PostgreSQL's dialect with every identifier quoted, and
sqlglot renders it for the destination's dialect (dlt's ``sqlglot_dialect``: duckdb,
postgres, bigquery, snowflake, redshift, databricks, ...). Identifiers are case-folded as dlt
names them there (upper case on Snowflake) and quoted in the target's style.

``create_views(pipeline)`` (re)creates the views below in the pipeline's dataset, next to
the tables, and returns their names. Call it after each load (it is idempotent). A view is
made only when every table it reads was loaded; a column that was not loaded (``dimensions``
chooses a subset) reads as a typed NULL. On PostgreSQL and Redshift a view is dropped and
created again, in one transaction, so grants on the views must be given again after each
call; tables with views on them cannot be dropped (``refresh="drop_sources"``) until ``drop_views``.
``view_statements(dialect, dataset)`` gives the statements for a dataset loaded with every
catalog column, without a database (``coveo-ua views --print-sql``).

Definitions (a "day" is the UTC calendar date of ``datetime``, whatever the session's
TimeZone; ratios and averages are DOUBLE PRECISION; no view has an order, so add one):

all_events
    One row per searches, clicks and custom_events row: ``event_type`` ('Search', 'Click'
    or 'Custom'), ``event_id`` (search_id, click_id or custom_event_id), ``search_id`` (a
    search's own id, a click's search_id, a custom event's last_search_id), visit_id,
    visitor_id, datetime, user_name, origin_level1, origin_level2, language, country,
    device_category, is_anonymous, then query_expression (searches), click_rank,
    document_title, document_uri (clicks), custom_event_type (custom events' event_type)
    and event_value (custom events); NULL where a column does not apply. It is the
    warehouse form of Coveo's sample client, which concatenates the three CSV files and
    sorts by visit then time: query it ``ORDER BY visit_id, datetime``.
daily_search_metrics (searches, clicks)
    One row per day with searches: ``searches`` that day; ``searches_with_clicks``, those of
    them with at least one clicks row of the same search_id (whatever the click's day);
    ``clicks``, the clicks rows of those searches; ``click_through_rate`` =
    searches_with_clicks / searches; ``average_click_rank``, the mean non-NULL click_rank of
    those clicks (NULL when none).
top_queries (searches, clicks)
    One row per ``query`` = lower(trim(query_expression)) (trim removes spaces only; rows
    where it is NULL or '' are left out): ``searches``, ``searches_with_clicks`` and
    ``click_through_rate`` as above, ``average_number_of_results``, the mean non-NULL
    number_of_results. Sort it ``ORDER BY searches DESC``.
zero_result_queries (searches)
    One row per query (as in top_queries) with searches whose number_of_results = 0
    (NULL is not 0): ``searches``, their count; ``first_seen``/``last_seen``, the earliest
    and latest datetime among them.
average_click_rank (clicks)
    One row per day with clicks, by the click's own datetime: ``clicks``, all clicks rows;
    ``average_click_rank``, the mean non-NULL click_rank (NULL when none).
custom_events_by_type (custom_events)
    One row per day and ``event_type`` (NULL is a group): ``events``, the rows; ``visits``,
    the distinct non-NULL visit_id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dlt
import sqlglot
from dlt.destinations.sql_client import SqlClientBase

from coveo_ua_source.dlt_internals import TColumnSchema
from coveo_ua_source.schema import COLUMNS, SQL_TYPES, TTable, column_type, snake_case
from coveo_ua_source.warehouse.column_comments import comment_columns

# Dialects whose CREATE OR REPLACE VIEW cannot change a view's columns: drop, create.
_DROP_AND_CREATE = frozenset({"postgres", "redshift"})
# The dialects ``view_statements`` renders for (golden files in tests/golden/views/).
DIALECTS = ("duckdb", "postgres", "bigquery", "snowflake", "redshift", "databricks")
# Dialects where dlt folds identifiers to upper case (the others keep dlt's snake_case).
_UPPER_CASE = frozenset({"snowflake"})
# The views' source dialect: the SELECTs below are PostgreSQL.
_SOURCE = "postgres"
# all_events: (event_type, table, event id column, search id column).
_EVENT_TABLES: tuple[tuple[str, TTable, str, str], ...] = (
    ("Search", "searches", "search_id", "search_id"),
    ("Click", "clicks", "click_id", "search_id"),
    ("Custom", "custom_events", "custom_event_id", "last_search_id"),
)
_COMMON = (
    "visit_id", "visitor_id", "datetime", "user_name", "origin_level1", "origin_level2",
    "language", "country", "device_category", "is_anonymous",
)  # fmt: skip
# all_events: (view column, the one table that has it, its column there).
_SPECIFIC: tuple[tuple[str, TTable, str], ...] = (
    ("query_expression", "searches", "query_expression"),
    ("click_rank", "clicks", "click_rank"),
    ("document_title", "clicks", "document_title"),
    ("document_uri", "clicks", "document_uri"),
    ("custom_event_type", "custom_events", "event_type"),
    ("event_value", "custom_events", "event_value"),
)


@dataclass(frozen=True)
class _Dataset:
    """The loaded tables and their columns, and how the destination names them.

    ``path`` is the dataset's path (``[project, dataset]`` on BigQuery), case-folded and
    unquoted; names are written quoted in PostgreSQL's style, for sqlglot to re-quote.
    """

    columns: dict[str, dict[str, TColumnSchema]]
    path: tuple[str, ...]
    casefold: Callable[[str], str] = field(default=str)

    def has(self, *tables: TTable) -> bool:
        return all(table in self.columns for table in tables)

    def qualified(self, name: str) -> str:
        """The table or view's name with the dataset's path, quoted."""
        return ".".join(_quote(part) for part in (*self.path, self.casefold(name)))

    def table(self, table: TTable, alias: str) -> str:
        return f"{self.qualified(table)} AS {alias}"

    def q(self, name: str) -> str:
        """A quoted identifier: a view column or an alias."""
        return _quote(self.casefold(name))

    def col(self, alias: str, table: TTable, column: str) -> str:
        """``alias.column`` when the table has the column, else a NULL of its catalog type."""
        if column in self.columns[table]:
            return f"{alias}.{self.q(column)}"
        return _null(table, column)

    def day(self, alias: str, table: TTable) -> str:
        """The UTC date of the table's datetime, the same whatever the session TimeZone."""
        found = self.columns[table].get("datetime")
        if found is None:
            return "CAST(NULL AS DATE)"
        if found.get("timezone", True) is False:  # naive timestamps are UTC already
            return f"CAST({alias}.{self.q('datetime')} AS DATE)"
        return f"CAST({alias}.{self.q('datetime')} AT TIME ZONE 'UTC' AS DATE)"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def render(select: str, dialect: str) -> str:
    """A SELECT written in the views' source dialect, in ``dialect``'s SQL."""
    rendered: str = sqlglot.transpile(select, read=_SOURCE, write=dialect, pretty=True)[0]
    return rendered


def create_views(pipeline: dlt.Pipeline) -> list[str]:
    """Create or replace every view whose tables were loaded; return the views' names."""
    if not pipeline.schema_names:
        return []
    created: list[str] = []
    with pipeline.sql_client() as client:
        dialect = _dialect(client)
        for name, statements in _statements(_loaded(pipeline, client), dialect):
            if len(statements) == 1:
                client.execute_sql(statements[0])
            else:
                with client.begin_transaction():
                    for statement in statements:
                        client.execute_sql(statement)
            created.append(name)
    comment_columns(pipeline)  # PostgreSQL and DuckDB keep column descriptions as comments
    return created


def drop_views(pipeline: dlt.Pipeline) -> list[str]:
    """Drop every view ``create_views`` makes (those that exist); return the names tried."""
    with pipeline.sql_client() as client:
        for name in VIEWS:
            client.execute_sql(f"DROP VIEW IF EXISTS {client.make_qualified_table_name(name)}")
    return list(VIEWS)


def view_statements(dialect: str, dataset: str) -> list[tuple[str, list[str]]]:
    """Each view with the statements that (re)create it in ``dataset`` (``project.dataset``
    on BigQuery), in ``dialect``, for tables loaded with every catalog column."""
    casefold = str.upper if dialect in _UPPER_CASE else str
    path = tuple(casefold(part) for part in dataset.split("."))
    return list(_statements(_Dataset(_catalog_columns(), path, casefold), dialect))


def view_script(dialect: str, dataset: str) -> str:
    """``view_statements`` as one SQL script, each statement ended by ``;``."""
    return "\n".join(
        f"{statement};\n"
        for _, statements in view_statements(dialect, dataset)
        for statement in statements
    )


def _catalog_columns() -> dict[str, dict[str, TColumnSchema]]:
    """Every catalog column of every table, as dlt loads them (timestamps with time zone)."""
    return {
        table: {
            snake_case(known.api_name): {"name": snake_case(known.api_name)}
            for known in table_columns
        }
        for table, table_columns in COLUMNS.items()
    }


def _dialect(client: SqlClientBase[Any]) -> str:
    return client.capabilities.sqlglot_dialect or _SOURCE


def _loaded(pipeline: dlt.Pipeline, client: SqlClientBase[Any]) -> _Dataset:
    schema = pipeline.default_schema
    return _Dataset(
        {table: schema.get_table_columns(table) for table in schema.data_table_names()},
        tuple(client.make_qualified_table_name_path(None, quote=False)),
        client.capabilities.casefold_identifier,
    )


def _statements(dataset: _Dataset, dialect: str) -> Iterator[tuple[str, list[str]]]:
    """Each view that the dataset's tables allow, with the statements that (re)create it."""
    for name, build in VIEWS.items():
        select = build(dataset)
        if select is None:
            continue
        view = _table_name(dataset.qualified(name), dialect)
        body = render(select, dialect)
        if dialect in _DROP_AND_CREATE:
            yield name, [f"DROP VIEW IF EXISTS {view}", f"CREATE VIEW {view} AS\n{body}"]
        else:
            yield name, [f"CREATE OR REPLACE VIEW {view} AS\n{body}"]


def _table_name(qualified: str, dialect: str) -> str:
    return sqlglot.parse_one(qualified, into=sqlglot.exp.Table, read=_SOURCE).sql(dialect=dialect)


def _all_events(d: _Dataset) -> str | None:
    """One SELECT per loaded event table, glued with UNION ALL."""
    branches: list[str] = []
    for event_type, table, event_id, search_id in _EVENT_TABLES:
        if not d.has(table):
            continue
        values = [
            f"CAST('{event_type}' AS TEXT) AS {d.q('event_type')}",
            f"{d.col('t', table, event_id)} AS {d.q('event_id')}",
            f"{d.col('t', table, search_id)} AS {d.q('search_id')}",
            *(f"{d.col('t', table, name)} AS {d.q(name)}" for name in _COMMON),
            *(
                f"{d.col('t', table, column) if owner == table else _null(owner, column)} "
                f"AS {d.q(name)}"
                for name, owner, column in _SPECIFIC
            ),
        ]
        branches.append(f"SELECT {', '.join(values)}\nFROM {d.table(table, 't')}")
    return "\nUNION ALL\n".join(branches) or None


def _null(table: TTable, column: str) -> str:
    """A NULL of the column's catalog type (text for a column not in the catalog)."""
    return f"CAST(NULL AS {SQL_TYPES[column_type(table, column)]})"


def _daily_search_metrics(d: _Dataset) -> str | None:
    if not d.has("searches", "clicks"):
        return None
    sid, n = d.q("search_id"), d.q("clicks")
    return f"""WITH k AS (
    SELECT {d.col("c", "clicks", "search_id")} AS {sid}, COUNT(*) AS {n},
        SUM({d.col("c", "clicks", "click_rank")}) AS rank_sum,
        COUNT({d.col("c", "clicks", "click_rank")}) AS ranked
    FROM {d.table("clicks", "c")} GROUP BY 1
)
SELECT {d.day("s", "searches")} AS {d.q("day")},
    COUNT(*) AS {d.q("searches")},
    COUNT(k.{sid}) AS {d.q("searches_with_clicks")},
    CAST(COALESCE(SUM(k.{n}), 0) AS BIGINT) AS {n},
    CAST(COUNT(k.{sid}) AS DOUBLE PRECISION) / NULLIF(COUNT(*), 0) AS {d.q("click_through_rate")},
    CAST(SUM(k.rank_sum) AS DOUBLE PRECISION) / NULLIF(SUM(k.ranked), 0)
        AS {d.q("average_click_rank")}
FROM {d.table("searches", "s")} LEFT JOIN k ON k.{sid} = {d.col("s", "searches", "search_id")}
GROUP BY 1"""  # noqa: S608 (identifiers quoted by the client)


def _query(d: _Dataset) -> str:
    return f"lower(trim({d.col('s', 'searches', 'query_expression')}))"


def _top_queries(d: _Dataset) -> str | None:
    if not d.has("searches", "clicks"):
        return None
    sid, query = d.q("search_id"), _query(d)
    results = d.col("s", "searches", "number_of_results")
    return f"""WITH k AS (
    SELECT DISTINCT {d.col("c", "clicks", "search_id")} AS {sid} FROM {d.table("clicks", "c")}
)
SELECT {query} AS {d.q("query")},
    COUNT(*) AS {d.q("searches")},
    COUNT(k.{sid}) AS {d.q("searches_with_clicks")},
    CAST(COUNT(k.{sid}) AS DOUBLE PRECISION) / NULLIF(COUNT(*), 0) AS {d.q("click_through_rate")},
    AVG(CAST({results} AS DOUBLE PRECISION)) AS {d.q("average_number_of_results")}
FROM {d.table("searches", "s")} LEFT JOIN k ON k.{sid} = {d.col("s", "searches", "search_id")}
WHERE {query} <> ''
GROUP BY 1"""  # noqa: S608 (identifiers quoted by the client)


def _zero_result_queries(d: _Dataset) -> str | None:
    if not d.has("searches"):
        return None
    query, at = _query(d), d.col("s", "searches", "datetime")
    return f"""SELECT {query} AS {d.q("query")}, COUNT(*) AS {d.q("searches")},
    MIN({at}) AS {d.q("first_seen")}, MAX({at}) AS {d.q("last_seen")}
FROM {d.table("searches", "s")}
WHERE {d.col("s", "searches", "number_of_results")} = 0 AND {query} <> ''
GROUP BY 1"""  # noqa: S608 (identifiers quoted by the client)


def _average_click_rank(d: _Dataset) -> str | None:
    if not d.has("clicks"):
        return None
    rank = d.col("c", "clicks", "click_rank")
    return f"""SELECT {d.day("c", "clicks")} AS {d.q("day")}, COUNT(*) AS {d.q("clicks")},
    AVG(CAST({rank} AS DOUBLE PRECISION)) AS {d.q("average_click_rank")}
FROM {d.table("clicks", "c")}
GROUP BY 1"""  # noqa: S608 (identifiers quoted by the client)


def _custom_events_by_type(d: _Dataset) -> str | None:
    if not d.has("custom_events"):
        return None
    return f"""SELECT {d.day("e", "custom_events")} AS {d.q("day")},
    {d.col("e", "custom_events", "event_type")} AS {d.q("event_type")},
    COUNT(*) AS {d.q("events")},
    COUNT(DISTINCT {d.col("e", "custom_events", "visit_id")}) AS {d.q("visits")}
FROM {d.table("custom_events", "e")}
GROUP BY 1, 2"""  # noqa: S608 (identifiers quoted by the client)


# Every view, in creation order, with the function that writes its SELECT (None: skip it).
VIEWS: dict[str, Callable[[_Dataset], str | None]] = {
    "all_events": _all_events,
    "daily_search_metrics": _daily_search_metrics,
    "top_queries": _top_queries,
    "zero_result_queries": _zero_result_queries,
    "average_click_rank": _average_click_rank,
    "custom_events_by_type": _custom_events_by_type,
}

__all__ = [
    "DIALECTS",
    "VIEWS",
    "create_views",
    "drop_views",
    "render",
    "view_script",
    "view_statements",
]
