"""The tables of a Coveo UA export: their known columns, types and row identifiers.

Column API names and identifiers come from the contract (docs/coveo-exports-api.md);
display names are the header form used with ``useDisplayNames=true``. Columns not listed
here are read as text; custom dimensions ``c_*`` are then typed as Coveo's exportables say
(ingest/custom_dimensions.py), anything else Coveo adds stays text.

A known column's type is said once, in ``COLUMNS``, as a ``TColumnType`` (which is also
its dlt data type); ``ARROW_TYPES`` and ``SQL_TYPES`` below translate it for the CSV
reader and the views. The tables translating Coveo's types of ``c_*`` dimensions stay in
ingest/custom_dimensions.py with the casts that use them: they are keyed by Coveo's type
names (NUMBER, SHORT, ...), not by ``TColumnType``, and only that module reads them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

import pyarrow as pa

from coveo_ua_source.exceptions import ConfigurationError

TTable = Literal["searches", "clicks", "custom_events", "keywords", "groups"]
TColumnType = Literal["text", "bigint", "double", "bool", "date", "timestamp"]
TExportFormat = Literal["EXCEL", "NO_NEWLINE"]

TABLES: tuple[TTable, ...] = get_args(TTable)

# A column type as the CSV reader's Arrow batches hold it.
ARROW_TYPES: dict[TColumnType, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
# A column type in the views' SQL (typed NULLs where a table lacks the column).
SQL_TYPES: dict[TColumnType, str] = {
    "text": "TEXT",
    "bigint": "BIGINT",
    "double": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
}
# The column type each type of Coveo dimension loads as (custom dimensions).
COVEO_COLUMN_TYPES: dict[str, TColumnType] = {
    "TEXT": "text",
    "NUMBER": "double",
    "SHORT": "bigint",
    "BOOLEAN": "bool",
    "DATE": "date",
    "DATETIME": "timestamp",
}
# The Coveo type of each column type a custom dimension loads as.
COVEO_TYPES: dict[str, str] = {column: coveo for coveo, column in COVEO_COLUMN_TYPES.items()}


@dataclass(frozen=True)
class Column:
    """One known column: its API header, display-name header, type and meaning."""

    api_name: str
    display_name: str
    type: TColumnType = "text"
    meaning: str = ""

    @property
    def description(self) -> str:
        """Display name and one-line meaning: the loaded column's dlt description."""
        return f"{self.display_name}: {self.meaning}" if self.meaning else self.display_name


# One-line meanings of the known columns (by API name), from Coveo's UA documentation.
MEANINGS: dict[str, str] = {
    "searchId": "unique id of the search event (query)",
    "clickId": "unique id of the click event",
    "customEventId": "unique id of the custom event",
    "lastSearchId": "id of the last search before this custom event (searches.search_id)",
    "datetime": "when the event happened, UTC",
    "visitId": "id of the visit (session) the event belongs to",
    "visitorId": "anonymous id of the visitor's browser or device",
    "userName": "name of the signed-in user, empty when anonymous",
    "userId": "id of the signed-in user",
    "queryExpression": "the basic query the user typed",
    "advancedQueryExpression": "the advanced query added by the search interface",
    "searchCause": "what triggered the search (searchboxSubmit, facetSelect, ...)",
    "queryPipeline": "the query pipeline that processed the query",
    "numberOfResults": "how many results the query returned",
    "responseTime": "time the search took, in milliseconds",
    "searchHub": "the search hub (search interface) of the event",
    "tab": "the search interface tab of the event",
    "originLevel1": "origin level 1 of the event (search hub)",
    "originLevel2": "origin level 2 of the event (tab)",
    "originLevel3": "origin level 3 of the event (referrer page)",
    "language": "language of the search interface",
    "city": "city of the visitor, from the IP address",
    "country": "country of the visitor, from the IP address",
    "deviceCategory": "device category (Desktop, Phone, Tablet)",
    "mobile": "whether the event came from a mobile device",
    "isAnonymous": "whether the user was not signed in",
    "clickRank": "position of the opened result in the result list, from 1",
    "clickCause": "how the result was opened (documentOpen, documentQuickview, ...)",
    "documentTitle": "title of the opened document",
    "documentUri": "URI of the opened document",
    "documentUriHash": "hash of the opened document's URI",
    "collectionName": "collection of the opened document",
    "sourceName": "Coveo source of the opened document",
    "eventType": "type of the custom event",
    "eventValue": "value of the custom event",
    "keyword": "one keyword of the search's query",
    "groupName": "one group of the user who searched",
    "c_context_role": "custom dimension (context role), text",
    "c_cart_value": "custom dimension (cart value), typed by Coveo's exportables",
}


def _col(api_name: str, display_name: str, type_: TColumnType = "text") -> Column:
    return Column(api_name, display_name, type_, MEANINGS.get(api_name, ""))


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


@functools.cache  # sort keys call it once per row
def primary_key(table: TTable) -> tuple[str, ...]:
    """The loaded table's primary key, in dlt's snake_case column names."""
    return tuple(snake_case(name) for name in IDENTIFIERS[table])


def column_hints(table: TTable) -> dict[str, str]:
    """The description of every known column of ``table``, by loaded column name."""
    return {snake_case(col.api_name): col.description for col in COLUMNS[table]}


def column_type(table: TTable, name: str) -> TColumnType:
    """The type of a loaded column (snake_case name); text for a column not in the catalog."""
    types = {snake_case(column.api_name): column.type for column in COLUMNS[table]}
    return types.get(name, "text")


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


def parse_tables(tables: Iterable[str] | str | None) -> tuple[TTable, ...]:
    """Validated table names in the canonical order; None means all tables."""
    if tables is None:
        return TABLES
    names = [tables] if isinstance(tables, str) else list(tables)
    # "searches,clicks" from a TOML string or an environment variable is two tables
    split = [part for name in names for part in str(name).split(",")]
    wanted = {name.strip().lower() for name in split if name.strip()}
    unknown = sorted(wanted - set(TABLES))
    if unknown:
        raise ConfigurationError(
            f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES)}"
        )
    if not wanted:
        raise ConfigurationError(f"tables is empty; choose from {', '.join(TABLES)}")
    return tuple(table for table in TABLES if table in wanted)


def export_format_of(value: str) -> TExportFormat:
    """``EXCEL`` or ``NO_NEWLINE``, in any case."""
    upper = value.strip().upper() if isinstance(value, str) else value
    if upper == "EXCEL":
        return "EXCEL"
    if upper == "NO_NEWLINE":
        return "NO_NEWLINE"
    raise ConfigurationError(f"export_format={value!r}: use 'EXCEL' or 'NO_NEWLINE'")
