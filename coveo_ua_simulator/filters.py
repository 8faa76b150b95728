"""The subset of Coveo's Read filter syntax the simulator understands.

Supported: clauses ``dimension==value`` and ``dimension!=value`` joined by ``AND``, where the
value is a double-quoted string (``\\"`` and ``\\\\`` escapes) or a bare token (numbers,
``true``/``false``). Repeated filter parameters are ANDed. Everything else (``OR``, ``=~``,
``IN [...]``, named filters ``$NAME``, ...) raises :class:`FilterError`, which the API turns
into a 400.

Which tables a filter applies to: ``f`` to searches, clicks and custom events; ``fs`` to
searches and clicks; ``fc`` to custom events. Keywords and groups follow their search: they
are kept when the search passes the ``f`` and ``fs`` clauses. A clause on a dimension that a
table lacks compares against a missing value (``==`` is false, ``!=`` is true).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from coveo_ua_source.schema import COLUMNS, TTable

TOp = Literal["==", "!="]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<and>AND)(?=\s|$)
      | (?P<op>==|!=|=~|!~|=@|!@|<=|>=|<|>)
      | "(?P<quoted>(?:[^"\\]|\\.)*)"
      | (?P<word>[^\s"=!<>@~]+)
    )""",
    re.VERBOSE,
)
_KNOWN_DIMENSIONS = {column.api_name.lower() for cols in COLUMNS.values() for column in cols}


class FilterError(ValueError):
    """A filter the simulator cannot parse or does not support."""


@dataclass(frozen=True)
class Clause:
    """One comparison: a dimension (lower-cased API name), an operator and a text value."""

    dimension: str
    op: TOp
    value: str


@dataclass(frozen=True)
class ExportFilters:
    """The parsed ``f`` (common), ``fs`` (searches/clicks) and ``fc`` (custom events)."""

    common: tuple[Clause, ...] = ()
    searches: tuple[Clause, ...] = ()
    custom_events: tuple[Clause, ...] = ()

    @classmethod
    def parse(
        cls, f: Sequence[str] = (), fs: Sequence[str] = (), fc: Sequence[str] = ()
    ) -> ExportFilters:
        """Parse the raw filter strings; raises FilterError."""
        return cls(_parse_all(f), _parse_all(fs), _parse_all(fc))

    def clauses_for(self, table: TTable) -> tuple[Clause, ...]:
        """The clauses a row of ``table`` must pass (keywords/groups: their search's)."""
        if table == "custom_events":
            return self.common + self.custom_events
        return self.common + self.searches

    def as_map(self) -> dict[str, str]:
        """The export object's ``filters`` map: parameter name -> clauses joined by AND."""
        parts = {"f": self.common, "fs": self.searches, "fc": self.custom_events}
        return {name: " AND ".join(map(_render, cl)) for name, cl in parts.items() if cl}

    def is_empty(self) -> bool:
        """True when no clause was given."""
        return not (self.common or self.searches or self.custom_events)


def as_text(value: object) -> str:
    """A raw row value as the CSV writes it (before quoting)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def row_predicate(
    clauses: Iterable[Clause], fields: Sequence[str]
) -> Callable[[tuple[Any, ...]], bool]:
    """A function telling whether a raw row (laid out as ``fields``) passes every clause."""
    positions = {name.lower(): index for index, name in enumerate(fields)}
    checks = [(positions.get(c.dimension), c.op == "==", c.value) for c in clauses]

    def passes(row: tuple[Any, ...]) -> bool:
        for position, equal, value in checks:
            actual = None if position is None else row[position]
            if (as_text(actual) == value and actual is not None) != equal:
                return False
        return True

    return passes


def _render(clause: Clause) -> str:
    escaped = clause.value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{clause.dimension}{clause.op}"{escaped}"'


def _parse_all(raw: Sequence[str]) -> tuple[Clause, ...]:
    return tuple(clause for text in raw for clause in _parse_one(text))


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"Cannot parse the filter {text!r} at position {position}.")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "quoted":
            value = re.sub(r"\\(.)", r"\1", value)
        tokens.append((kind, value))
        position = match.end()
    return tokens


def _parse_one(text: str) -> list[Clause]:
    tokens = _tokens(text)
    if not tokens:
        raise FilterError("Empty filter.")
    clauses: list[Clause] = []
    for start in range(0, len(tokens), 4):
        group = tokens[start : start + 4]
        if (len(group) == 4 and group[3][0] != "and") or len(group) < 3:
            raise FilterError(f"Cannot parse the filter {text!r}: expected dimension==value.")
        if start + 4 == len(tokens):
            raise FilterError(f"The filter {text!r} ends with AND.")
        clauses.append(_clause(text, group[0], group[1], group[2]))
    return clauses


def _clause(text: str, dim: tuple[str, str], op: tuple[str, str], val: tuple[str, str]) -> Clause:
    if dim[0] != "word" or dim[1].startswith("$"):
        raise FilterError(f"Unsupported filter {text!r}: named filters and expressions.")
    if op[0] != "op" or op[1] not in ("==", "!="):
        raise FilterError(f"Unsupported operator in filter {text!r}: only == and != work here.")
    if val[0] not in ("quoted", "word"):
        raise FilterError(f"Cannot parse the value of the filter {text!r}.")
    dimension = dim[1].lower()
    table, dot, column = dimension.partition(".")
    if dot and table in COLUMNS:
        dimension = column
    if dimension not in _KNOWN_DIMENSIONS:
        raise FilterError(f"Unknown dimension {dim[1]!r} in filter {text!r}.")
    return Clause(dimension, "==" if op[1] == "==" else "!=", val[1])
