"""Expected view rows computed in Python from the ground truth (never from the views' SQL),
following the definitions in ``coveo_ua_source/warehouse/views.py``; and views read back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from statistics import fmean
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from coveo_ua_simulator import Simulator, ground_truth
from coveo_ua_source.schema import TTable
from helpers import assert_rows_equal, utc

START = utc(2024, 3, 1)
END = utc(2024, 3, 4)
EVENT_TABLES: tuple[TTable, ...] = ("searches", "clicks", "custom_events")
EVENT_KINDS: dict[TTable, str] = {
    "searches": "Search",
    "clicks": "Click",
    "custom_events": "Custom",
}
# Far from UTC on both sides: most hours of a day fall on another local date.
TIMEZONES = ("Pacific/Kiritimati", "America/Los_Angeles")
Rows = list[dict[str, Any]]


def truth_rows(simulator: Simulator, end: datetime = END) -> dict[TTable, Rows]:
    return {t: ground_truth(simulator.config, t, START, end) for t in EVENT_TABLES}


def view_rows(pipeline: Pipeline, view: str, session_timezone: str | None = None) -> Rows:
    """Every row of a view, as dicts; with a session TimeZone set first when given."""
    with pipeline.sql_client() as client:
        if session_timezone is not None:
            client.execute_sql(f"SET TimeZone = '{session_timezone}'")
        sql = f"SELECT * FROM {client.make_qualified_table_name(view)}"
        with client.execute_query(sql) as cursor:
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


def existing_views(pipeline: Pipeline) -> set[str]:
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'VIEW'",
            client.fully_qualified_dataset_name(quote=False),
        )
    return {row[0] for row in rows or []}


def assert_view_equal(got: Rows, want: Rows, view: str, key: Sequence[str]) -> None:
    def order(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row[name]) for name in key)

    assert want, f"{view}: nothing expected; the test proves nothing"
    assert_rows_equal(sorted(got, key=order), sorted(want, key=order), view)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def query_of(text: str | None) -> str | None:
    """lower(trim(query_expression)): SQL trim removes spaces only; '' counts as none."""
    if text is None:
        return None
    return text.strip(" ").lower() or None


def mean_or_none(values: Iterable[float | int | None]) -> float | None:
    present = [float(value) for value in values if value is not None]
    return fmean(present) if present else None


def clicks_by_search(clicks: Rows) -> dict[str, Rows]:
    grouped: dict[str, Rows] = defaultdict(list)
    for click in clicks:
        grouped[click["search_id"]].append(click)
    return grouped


def expected_all_events(truth: dict[TTable, Rows]) -> Rows:
    common = ["visit_id", "visitor_id", "datetime", "user_name", "origin_level1"]
    common += ["origin_level2", "language", "country", "device_category", "is_anonymous"]
    specific = {  # view column: (table, column)
        "query_expression": ("searches", "query_expression"),
        "click_rank": ("clicks", "click_rank"),
        "document_title": ("clicks", "document_title"),
        "document_uri": ("clicks", "document_uri"),
        "custom_event_type": ("custom_events", "event_type"),
        "event_value": ("custom_events", "event_value"),
    }
    kinds: list[tuple[str, TTable, str, str]] = [
        ("Search", "searches", "search_id", "search_id"),
        ("Click", "clicks", "click_id", "search_id"),
        ("Custom", "custom_events", "custom_event_id", "last_search_id"),
    ]
    out: Rows = []
    for event_type, table, event_id, search_id in kinds:
        for row in truth[table]:
            event = {"event_type": event_type, "event_id": row[event_id]}
            event |= {"search_id": row[search_id], **{name: row[name] for name in common}}
            for name, (owner, column) in specific.items():
                event[name] = row[column] if owner == table else None
            out.append(event)
    return out


def expected_daily_search_metrics(truth: dict[TTable, Rows]) -> Rows:
    clicks = clicks_by_search(truth["clicks"])
    days: dict[date, list[Rows]] = defaultdict(list)  # each search's clicks, per search day
    for search in truth["searches"]:
        days[utc_day(search["datetime"])].append(clicks.get(search["search_id"], []))
    out: Rows = []
    for day, per_search in days.items():
        with_clicks = sum(1 for found in per_search if found)
        out.append({
            "day": day,
            "searches": len(per_search),
            "searches_with_clicks": with_clicks,
            "clicks": sum(len(found) for found in per_search),
            "click_through_rate": with_clicks / len(per_search),
            "average_click_rank": mean_or_none(c["click_rank"] for f in per_search for c in f),
        })  # fmt: skip
    return out


def expected_top_queries(truth: dict[TTable, Rows]) -> Rows:
    clicked = {click["search_id"] for click in truth["clicks"]}
    queries: dict[str, Rows] = defaultdict(list)
    for search in truth["searches"]:
        query = query_of(search["query_expression"])
        if query is not None:
            queries[query].append(search)
    out: Rows = []
    for query, searches in queries.items():
        with_clicks = sum(1 for search in searches if search["search_id"] in clicked)
        out.append({
            "query": query,
            "searches": len(searches),
            "searches_with_clicks": with_clicks,
            "click_through_rate": with_clicks / len(searches),
            "average_number_of_results": mean_or_none(s["number_of_results"] for s in searches),
        })  # fmt: skip
    return out


def expected_zero_result_queries(truth: dict[TTable, Rows]) -> Rows:
    queries: dict[str, list[datetime]] = defaultdict(list)
    for search in truth["searches"]:
        query = query_of(search["query_expression"])
        if query is not None and search["number_of_results"] == 0:
            queries[query].append(search["datetime"])
    return [
        {"query": query, "searches": len(seen), "first_seen": min(seen), "last_seen": max(seen)}
        for query, seen in queries.items()
    ]


def expected_average_click_rank(truth: dict[TTable, Rows]) -> Rows:
    days: dict[date, Rows] = defaultdict(list)
    for click in truth["clicks"]:
        days[utc_day(click["datetime"])].append(click)
    return [
        {
            "day": day,
            "clicks": len(c),
            "average_click_rank": mean_or_none(x["click_rank"] for x in c),
        }
        for day, c in days.items()
    ]


def expected_custom_events_by_type(truth: dict[TTable, Rows]) -> Rows:
    groups: dict[tuple[date, str | None], Rows] = defaultdict(list)
    for event in truth["custom_events"]:
        groups[utc_day(event["datetime"]), event["event_type"]].append(event)
    return [
        {
            "day": day,
            "event_type": event_type,
            "events": len(events),
            "visits": len({e["visit_id"] for e in events if e["visit_id"] is not None}),
        }
        for (day, event_type), events in groups.items()
    ]


# view: (expected rows from the ground truth, the view's key columns)
EXPECTED: dict[str, tuple[Callable[[dict[TTable, Rows]], Rows], tuple[str, ...]]] = {
    "all_events": (expected_all_events, ("event_type", "event_id")),
    "daily_search_metrics": (expected_daily_search_metrics, ("day",)),
    "top_queries": (expected_top_queries, ("query",)),
    "zero_result_queries": (expected_zero_result_queries, ("query",)),
    "average_click_rank": (expected_average_click_rank, ("day",)),
    "custom_events_by_type": (expected_custom_events_by_type, ("day", "event_type")),
}
DAY_VIEWS = ("daily_search_metrics", "average_click_rank", "custom_events_by_type")


def assert_view_matches(
    pipeline: Pipeline, view: str, truth: dict[TTable, Rows], session_timezone: str | None = None
) -> None:
    expected, key = EXPECTED[view]
    assert_view_equal(view_rows(pipeline, view, session_timezone), expected(truth), view, key)
