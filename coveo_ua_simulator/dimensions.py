"""The simulated org's custom dimensions: ``c_*`` columns of every Coveo type.

Each dimension draws its raw text from a small pool, some of whose values do not parse as
the dimension's type (``1,299.00`` as NUMBER, ``n/a`` as SHORT, ``yes`` as BOOLEAN...), so
the connector's typing and its rejected values can be checked against ``typed_value``.
``SimulatorConfig.bad_dimension_rate`` sets how often instead (``with_bad_rate``): real
exports, typed by Coveo itself, reject few values.
``c_context_role`` and ``c_cart_value`` are also in the connector's catalog (schema.py);
the others exist only here, as an org's own dimensions would.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from coveo_ua_simulator import pools
from coveo_ua_source.schema import COLUMNS, Column, TTable, snake_case


@dataclass(frozen=True)
class SimDimension:
    """A custom dimension: its table, API name, Coveo type and the pool of its raw text."""

    table: TTable
    api_name: str
    coveo_type: str
    pool: tuple[str | None, ...]

    @property
    def return_name(self) -> str:
        return f"{self.table}.{self.api_name}"


PAGE_NUMBERS: Final = ("1", "1", "2", "3", "n/a", None)
IN_STOCK: Final = ("true", "false", "TRUE", "yes", None)
DELIVERY_DATES: Final = ("2024-02-01", "2024-12-24", "next week", None)
ORDERED_AT: Final = ("2024-01-31T23:59:59.999Z", "2024-02-01 08:00:00", "yesterday", None)

CUSTOM_DIMENSIONS: Final[tuple[SimDimension, ...]] = (
    SimDimension("searches", "c_context_role", "TEXT", pools.CONTEXT_ROLES),
    SimDimension("searches", "c_page_number", "SHORT", PAGE_NUMBERS),
    SimDimension("clicks", "c_in_stock", "BOOLEAN", IN_STOCK),
    SimDimension("custom_events", "c_cart_value", "NUMBER", pools.CART_VALUES),
    SimDimension("custom_events", "c_delivery_date", "DATE", DELIVERY_DATES),
    SimDimension("custom_events", "c_ordered_at", "DATETIME", ORDERED_AT),
)
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def sim_columns(table: TTable) -> tuple[Column, ...]:
    """The simulator's columns of a table: the catalog's, then its own custom dimensions."""
    known = {column.api_name for column in COLUMNS[table]}
    extra = tuple(
        Column(d.api_name, d.api_name)
        for d in CUSTOM_DIMENSIONS
        if d.table == table and d.api_name not in known
    )
    return COLUMNS[table] + extra


def dimension_types(retyped: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """Coveo type of each custom dimension by return name; ``retyped`` overrides some."""
    types = {d.return_name: d.coveo_type for d in CUSTOM_DIMENSIONS}
    types.update({name.lower(): type_ for name, type_ in retyped})
    return types


def custom_types(table: TTable, types: Mapping[str, str] | None) -> dict[str, str]:
    """snake_case column -> Coveo type of ``table``'s dimensions (None: the first types)."""
    chosen = dimension_types() if types is None else types
    return {
        snake_case(d.api_name): chosen[d.return_name]
        for d in CUSTOM_DIMENSIONS
        if d.table == table and d.return_name in chosen
    }


def typed_value(raw: str | None, coveo_type: str) -> tuple[Any, bool]:
    """(the value a correct connector loads, whether the raw text was rejected)."""
    if raw is None:
        return None, False
    text = raw.strip()
    try:
        value = _parse(text, coveo_type)
    except ValueError:
        return None, True
    return value, False


def _parse(text: str, coveo_type: str) -> Any:
    if coveo_type == "NUMBER":
        return float(text)
    if coveo_type == "SHORT":
        return int(text)
    if coveo_type == "BOOLEAN":
        if text.lower() not in _BOOLEANS:
            raise ValueError(text)
        return _BOOLEANS[text.lower()]
    if coveo_type == "DATE":
        return date.fromisoformat(text)
    if coveo_type == "DATETIME":
        return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)
    return text


def with_bad_rate(
    columns: list[Sequence[Any]],
    fields: Sequence[str],
    table: str,
    rng: random.Random,
    rate: float,
) -> list[Sequence[Any]]:
    """``columns`` (laid out as ``fields``) with each typed dimension of ``table`` drawn
    again: a value that does not parse in a share ``rate`` of rows, else the row's own
    value when it parses, or one of the pool's values that do."""
    out = list(columns)
    for dimension in CUSTOM_DIMENSIONS:
        bad = tuple(v for v in dimension.pool if typed_value(v, dimension.coveo_type)[1])
        if dimension.table != table or dimension.api_name not in fields or not bad:
            continue
        good = tuple(v for v in dimension.pool if not typed_value(v, dimension.coveo_type)[1])
        unwanted, position = frozenset(bad), fields.index(dimension.api_name)
        draws = [rng.random() for _ in out[position]]
        out[position] = [
            bad[int(r / rate * len(bad)) % len(bad)] if r < rate
            else good[int(r * 1009) % len(good)] if value in unwanted
            else value
            for value, r in zip(out[position], draws, strict=True)
        ]  # fmt: skip
    return out


def row_key(row: Mapping[str, object], keys: Sequence[str]) -> str:
    """A row's primary key as the connector writes it in ``_coveo_ua_rejected_values``."""
    return json.dumps({key: row[key] for key in keys}, sort_keys=True)
