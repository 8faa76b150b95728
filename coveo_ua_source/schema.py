"""The tables of a Coveo UA export: their known columns, types and row identifiers.

Column API names and identifiers come from the contract (docs/coveo-exports-api.md);
display names are the header form used with ``useDisplayNames=true``. Columns not listed
here (custom dimensions ``c_*`` and anything Coveo adds) are loaded as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

TTable = Literal["searches", "clicks", "custom_events", "keywords", "groups"]
TColumnType = Literal["text", "bigint", "double", "bool", "timestamp"]
TExportFormat = Literal["EXCEL", "NO_NEWLINE"]

TABLES: tuple[TTable, ...] = get_args(TTable)


@dataclass(frozen=True)
class Column:
    """One known column: its API header, display-name header and type."""

    api_name: str
    display_name: str
    type: TColumnType = "text"


def _col(api_name: str, display_name: str, type_: TColumnType = "text") -> Column:
    return Column(api_name, display_name, type_)


_VISIT = [
    _col("visitId", "Visit ID"),
    _col("visitorId", "Visitor ID"),
]
_ORIGIN = [
    _col("originLevel1", "Origin Level 1"),
    _col("originLevel2", "Origin Level 2"),
    _col("originLevel3", "Origin Level 3"),
    _col("language", "Language"),
]
_DEVICE = [
    _col("city", "City"),
    _col("country", "Country"),
    _col("deviceCategory", "Device Category"),
    _col("mobile", "Mobile", "bool"),
    _col("isAnonymous", "Is Anonymous", "bool"),
]

COLUMNS: dict[TTable, tuple[Column, ...]] = {
    "searches": (
        _col("searchId", "Search ID"),
        _col("datetime", "Date", "timestamp"),
        *_VISIT,
        # Coveo's searches header is `username`; other tables say `userName`. Headers
        # match case-insensitively, so every table loads the column as `user_name`.
        _col("userName", "User Name"),
        _col("userId", "User ID"),
        _col("queryExpression", "Query"),
        _col("advancedQueryExpression", "Advanced Query"),
        _col("searchCause", "Search Cause"),
        _col("queryPipeline", "Query Pipeline"),
        _col("numberOfResults", "Number Of Results", "bigint"),
        _col("responseTime", "Response Time", "double"),
        _col("searchHub", "Search Hub"),
        _col("tab", "Tab"),
        *_ORIGIN,
        *_DEVICE,
        _col("c_context_role", "c_context_role"),
    ),
    "clicks": (
        _col("clickId", "Click ID"),
        _col("datetime", "Date", "timestamp"),
        _col("searchId", "Search ID"),
        *_VISIT,
        _col("userName", "User Name"),
        _col("clickRank", "Click Rank", "bigint"),
        _col("clickCause", "Click Cause"),
        _col("documentTitle", "Document Title"),
        _col("documentUri", "Document URI"),
        _col("documentUriHash", "Document URI Hash"),
        _col("collectionName", "Collection Name"),
        _col("sourceName", "Source Name"),
        *_ORIGIN,
        *_DEVICE,
    ),
    "custom_events": (
        _col("customEventId", "Custom Event ID"),
        _col("datetime", "Date", "timestamp"),
        _col("lastSearchId", "Last Search ID"),
        *_VISIT,
        _col("userName", "User Name"),
        _col("eventType", "Event Type"),
        _col("eventValue", "Event Value"),
        *_ORIGIN,
        *_DEVICE,
        _col("c_cart_value", "c_cart_value"),
    ),
    "keywords": (
        _col("searchId", "Search ID"),
        _col("keyword", "Keyword"),
        _col("datetime", "Date", "timestamp"),
    ),
    "groups": (
        _col("searchId", "Search ID"),
        _col("groupName", "Group Name"),
        _col("datetime", "Date", "timestamp"),
    ),
}

# Row identifiers (API names), from the contract; the merge keys of the loaded tables.
IDENTIFIERS: dict[TTable, tuple[str, ...]] = {
    "searches": ("searchId",),
    "clicks": ("clickId",),
    "custom_events": ("customEventId",),
    "keywords": ("searchId", "keyword"),
    "groups": ("searchId", "groupName"),
}

# The value of the `tables` parameter of the API for each table.
API_TABLE_NAMES: dict[TTable, str] = {table: table.upper() for table in TABLES}


def snake_case(api_name: str) -> str:
    """dlt's snake_case form of a known API column name (`searchId` -> `search_id`)."""
    out: list[str] = []
    for index, char in enumerate(api_name):
        if char.isupper() and index > 0:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def primary_key(table: TTable) -> tuple[str, ...]:
    """The loaded table's primary key, in dlt's snake_case column names."""
    return tuple(snake_case(name) for name in IDENTIFIERS[table])


def column_by_header(table: TTable) -> dict[str, Column]:
    """Known columns of a table keyed by every header form, lower-cased.

    Headers are matched case-insensitively because casing varies between tables and
    exports (`username` vs `userName`), and display-name headers map to the same columns.
    """
    lookup: dict[str, Column] = {}
    for column in COLUMNS[table]:
        lookup[column.api_name.lower()] = column
        lookup[column.display_name.lower()] = column
    return lookup
