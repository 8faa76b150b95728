"""Rows of a time range, their counts, and the ground truth a correct connector loads.

Ranges here are half-open ``[start, end)``. The ground truth holds every catalog column of
a table under dlt's snake_case name, typed (tz-aware UTC datetime, int, float, bool, str or
None), as a correct connector loads it from the CSV the simulator writes:

- an empty field is None (the simulator never writes a meaningful empty string);
- with a timestamp style without milliseconds, datetimes are truncated to the second;
- with ``export_format="NO_NEWLINE"``, each line break inside a value (``\\r\\n``, ``\\n`` or
  ``\\r``) is one space, as in the file;
- custom dimensions (``simulator/dimensions.py``) are typed as ``exportables`` first says
  (or as ``custom_types`` says; ``{}`` for all text), a value that does not parse is None
  and listed by ``rejected_values``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from coveo_ua_simulator.config import SimulatorConfig
from coveo_ua_simulator.data import (
    FIELDS,
    HOUR_MS,
    Columns,
    Row,
    hour_columns,
    hour_counts,
    hour_rows,
    transpose,
)
from coveo_ua_simulator.dimensions import custom_types as typed_columns
from coveo_ua_simulator.dimensions import row_key, sim_columns, typed_value
from coveo_ua_simulator.filters import ExportFilters, row_predicate
from coveo_ua_simulator.selection import resolve_tables
from coveo_ua_source.schema import IDENTIFIERS, TABLES, TExportFormat, TTable, snake_case

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def to_ms(moment: datetime) -> int:
    """The first whole epoch millisecond at or after a tz-aware datetime."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware UTC datetime")
    return -((EPOCH - moment) // _MS)


def from_ms(ms: int) -> datetime:
    """The tz-aware UTC datetime of an epoch millisecond."""
    return EPOCH + timedelta(milliseconds=ms)


def no_newline(text: str) -> str:
    """A value as the NO_NEWLINE format writes it: every line break becomes one space."""
    return _LINE_BREAK.sub(" ", text)


def _hours(span: tuple[int, int]) -> Iterator[tuple[int, tuple[int, int] | None]]:
    """The hours a span touches, each with its clipped span, or None when fully inside."""
    start, end = span
    for hour in range(start // HOUR_MS, -(-end // HOUR_MS)):
        low, high = hour * HOUR_MS, (hour + 1) * HOUR_MS
        yield hour, (None if start <= low and high <= end else (max(start, low), min(end, high)))


def visible_span(cfg: SimulatorConfig, span: tuple[int, int]) -> tuple[int, int]:
    """The part of a span (epoch ms) whose rows exist at the simulator's present."""
    if cfg.clock is None:
        return span
    return span[0], max(span[0], min(span[1], to_ms(cfg.clock())))


def iter_batches(
    cfg: SimulatorConfig,
    table: TTable,
    span: tuple[int, int],
    filters: ExportFilters | None = None,
) -> Iterator[list[Row]]:
    """The raw rows of ``table`` with ``span[0] <= datetime < span[1]`` (epoch ms), per hour."""
    seed, per_hour = cfg.seed, cfg.searches_per_hour
    at = FIELDS[table].index("datetime")
    clauses = () if filters is None else filters.clauses_for(table)
    child = table in ("keywords", "groups")
    check = row_predicate(clauses, FIELDS["searches" if child else table])
    for hour, clip in _hours(span):
        rows = hour_rows(seed, per_hour, table, hour, cfg.bad_dimension_rate)
        if clip is not None:
            rows = [row for row in rows if clip[0] <= row[at] < clip[1]]
        if clauses and child:
            searches = hour_rows(seed, per_hour, "searches", hour, cfg.bad_dimension_rate)
            passing = {row[0] for row in searches if check(row)}
            rows = [row for row in rows if row[0] in passing]
        elif clauses:
            rows = [row for row in rows if check(row)]
        if rows:
            yield rows


def iter_column_batches(
    cfg: SimulatorConfig,
    table: TTable,
    span: tuple[int, int],
    filters: ExportFilters | None = None,
) -> Iterator[Columns]:
    """Like iter_batches, as columns; whole unfiltered hours skip building row tuples."""
    unfiltered = filters is None or not filters.clauses_for(table)
    for hour, clip in _hours(span):
        if clip is None and unfiltered:
            columns = hour_columns(
                cfg.seed, cfg.searches_per_hour, table, hour, cfg.bad_dimension_rate
            )
            if columns[0]:
                yield columns
            continue
        for rows in iter_batches(
            cfg, table, clip or (hour * HOUR_MS, (hour + 1) * HOUR_MS), filters
        ):
            yield transpose(rows, len(FIELDS[table]))


def count_rows(
    cfg: SimulatorConfig,
    table: TTable,
    span: tuple[int, int],
    filters: ExportFilters | None = None,
) -> int:
    """How many rows ``iter_batches`` yields; whole hours come from a cache when unfiltered."""
    if filters is not None and not filters.is_empty():
        return sum(map(len, iter_batches(cfg, table, span, filters)))
    index, total = TABLES.index(table), 0
    for hour, clip in _hours(span):
        if clip is None:
            total += hour_counts(cfg.seed, cfg.searches_per_hour, hour)[index]
        else:
            total += sum(map(len, iter_batches(cfg, table, clip)))
    return total


def _converter(
    kind: str, cfg: SimulatorConfig, export_format: TExportFormat
) -> Callable[[Any], Any]:
    if kind == "timestamp":
        if cfg.timestamp_style in ("iso_z_no_ms", "space"):
            return lambda ms: from_ms(ms - ms % 1000)
        return from_ms
    if kind == "text":
        fix = no_newline if export_format == "NO_NEWLINE" else str
        return lambda value: None if value is None or value == "" else fix(value)
    return lambda value: value


def _custom_converter(coveo_type: str) -> Callable[[Any], Any]:
    return lambda value: typed_value(value, coveo_type)[0]


def ground_truth(
    cfg: SimulatorConfig,
    table: TTable,
    start: datetime,
    end: datetime,
    *,
    export_format: TExportFormat = "EXCEL",
    now: datetime | None = None,
    custom_types: Mapping[str, str] | None = None,
) -> list[dict[str, object]]:
    """The rows of ``table`` with ``start <= datetime < end`` as a correct connector loads them.

    ``now``: only the rows that exist at that present (those before it).

    ``table`` is a catalog name (``searches``; API names like ``SEARCHES`` work too). Keys
    are the snake_case names of every column the simulator writes; rows are sorted by the
    table's identifiers. ``custom_types``: Coveo type by return name
    (``custom_events.c_cart_value``) for the custom dimensions; None: what ``exportables``
    answers first; ``{}``: every custom dimension as text (``exportables`` failed).
    """
    (table,) = resolve_tables([table])
    fields = FIELDS[table]
    custom = typed_columns(table, custom_types)
    plan = [
        (snake_case(col.api_name), fields.index(col.api_name) if col.api_name in fields else None,
         _custom_converter(custom[snake_case(col.api_name)])
         if custom.get(snake_case(col.api_name), "TEXT") != "TEXT"
         else _converter(col.type, cfg, export_format))
        for col in sim_columns(table)
    ]  # fmt: skip
    out: list[dict[str, object]] = []
    if now is not None:
        end = max(start, min(end, now))
    for batch in iter_batches(cfg, table, (to_ms(start), to_ms(end))):
        for row in batch:
            out.append({key: None if pos is None else conv(row[pos]) for key, pos, conv in plan})
    keys = [snake_case(name) for name in IDENTIFIERS[table]]
    out.sort(key=lambda row: tuple(str(row[key]) for key in keys))
    return out


def rejected_values(
    cfg: SimulatorConfig,
    table: TTable,
    start: datetime,
    end: datetime,
    custom_types: Mapping[str, str] | None = None,
) -> list[tuple[str, str, str, str]]:
    """(column, row key JSON, raw text, Coveo type) of every custom dimension value of the
    range that does not parse as its type, sorted; see ``ground_truth`` for ``custom_types``.
    """
    (table,) = resolve_tables([table])
    fields, keys = FIELDS[table], [snake_case(name) for name in IDENTIFIERS[table]]
    custom = typed_columns(table, custom_types)
    where = {column: fields.index(n) for n in fields if (column := snake_case(n)) in custom}
    out: list[tuple[str, str, str, str]] = []
    for batch in iter_batches(cfg, table, (to_ms(start), to_ms(end))):
        for row in batch:
            named = {
                key: row[fields.index(name)]
                for key, name in zip(keys, IDENTIFIERS[table], strict=True)
            }
            for column, position in where.items():
                if typed_value(row[position], custom[column])[1]:
                    out.append((column, row_key(named, keys), row[position], custom[column]))
    return sorted(out)
