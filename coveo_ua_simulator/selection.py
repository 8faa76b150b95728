"""Which tables and columns an export contains, and their header names."""

from __future__ import annotations

from collections.abc import Sequence

from coveo_ua_simulator.config import SimulatorConfig
from coveo_ua_simulator.dimensions import sim_columns
from coveo_ua_source.schema import TABLES, Column, TTable


def resolve_tables(tables: Sequence[str] | None) -> tuple[TTable, ...]:
    """Table names as the API accepts them (``SEARCHES``, ``searches``...) -> catalog names.

    None or empty means every table. Raises ValueError naming an unknown table.
    """
    if not tables:
        return TABLES
    resolved: list[TTable] = []
    for name in tables:
        table = next((t for t in TABLES if t == name.strip().lower()), None)
        if table is None:
            raise ValueError(f"Unknown table {name!r}; use one of {', '.join(TABLES).upper()}.")
        if table not in resolved:
            resolved.append(table)
    return tuple(resolved)


def _split_dimension(dimension: str) -> tuple[TTable | None, str]:
    table, dot, column = dimension.strip().lower().partition(".")
    if dot:
        known = next((t for t in TABLES if t == table), None)
        if known is None:
            raise ValueError(f"Unknown table {table!r} in dimension {dimension!r}.")
        return known, column
    return None, table


def resolve_dimensions(dimensions: Sequence[str] | None) -> dict[TTable, tuple[Column, ...]]:
    """The columns of each table an export contains, in catalog order.

    Dimensions are API names, case-insensitive, optionally ``table.column``; an unqualified
    name selects that column in every table that has it. Identifiers are not added. A table
    may end up with no column (the export then leaves it out). None or empty means every
    column. Raises ValueError naming an unknown dimension.
    """
    if not dimensions:
        return {table: sim_columns(table) for table in TABLES}
    wanted = [_split_dimension(d) for d in dimensions]
    for (table, column), raw in zip(wanted, dimensions, strict=True):
        scope = (table,) if table else TABLES
        if not any(c.api_name.lower() == column for t in scope for c in sim_columns(t)):
            raise ValueError(f"Unknown dimension {raw!r}.")
    return {
        table: tuple(
            col
            for col in sim_columns(table)
            if any(col.api_name.lower() == name and t in (None, table) for t, name in wanted)
        )
        for table in TABLES
    }


def header_names(
    table: TTable, columns: Sequence[Column], cfg: SimulatorConfig, use_display_names: bool
) -> list[str]:
    """The header row: display names, or API names with Coveo's ``username`` quirk."""
    if use_display_names:
        return [col.display_name for col in columns]
    mixed = cfg.header_case == "mixed" and table == "searches"
    return ["username" if mixed and col.api_name == "userName" else col.api_name for col in columns]
