"""The package's parts import one way: each only from its own layer or the layers below.

Every import counts, lazy ones inside functions too. The layers, lowest first, are the
ones docs/architecture.md draws; a part that is in none fails here until it is placed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "coveo_ua_source"
SIMULATOR = "coveo_ua_simulator"
# Files `coveo-ua init` copies into a user's project: they import the package as its
# users do, and no module of the package imports them.
TEMPLATES = REPO / PACKAGE / "templates"

LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(names.split())
    for names in (
        "exceptions settings dlt_version",
        "schema dates clock disk dlt_internals",
        "api",
        "ingest",
        "exports",
        "arguments",
        "warehouse",
        "runs",
        "source",
        "configuration recipe",
        "orchestration cli",
        "__init__",
    )
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """The absolute module names ``path`` imports, with their line numbers."""
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    here = module.removesuffix(".__init__").split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            yield target, node.lineno
            yield from ((f"{target}.{alias.name}", node.lineno) for alias in node.names)


def part_of(module: str) -> str | None:
    """``coveo_ua_source.exports.runner`` -> ``exports``; None outside the package."""
    names = module.split(".")
    if names[0] != PACKAGE:
        return None
    return names[1] if len(names) > 1 else "__init__"


def package_modules(package: str = PACKAGE) -> list[Path]:
    """The package's modules, its templates left out."""
    return [p for p in sorted((REPO / package).rglob("*.py")) if TEMPLATES not in p.parents]


def part_edges() -> dict[tuple[str, str], list[str]]:
    """(importing part, imported part) -> where, for every import between two parts."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in package_modules():
        source = part_of(".".join(path.relative_to(REPO).with_suffix("").parts))
        for module, line in imports_of(path):
            target = part_of(module)
            if source and target and target != source and module != PACKAGE:
                edges.setdefault((source, target), []).append(f"{path.relative_to(REPO)}:{line}")
    return edges


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[set[str]]:
    """The strongly connected sets of more than one part (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_cycle_between_the_parts() -> None:
    edges = part_edges()
    found = cycles(edges)
    assert found == [], [
        f"{a} -> {b}: {', '.join(where)}"
        for (a, b), where in edges.items()
        if any({a, b} <= cycle for cycle in found)
    ]


def test_every_part_is_in_a_layer() -> None:
    parts = {
        part_of(".".join(p.relative_to(REPO).with_suffix("").parts)) for p in package_modules()
    }
    assert parts - set(RANK) == set(), "place the new part in LAYERS and the architecture page"


def test_imports_never_climb_a_layer() -> None:
    climbing = [
        f"{source} -> {target}: {', '.join(where)}"
        for (source, target), where in sorted(part_edges().items())
        if RANK[target] > RANK[source]
    ]
    assert climbing == []


@pytest.mark.parametrize("package", [PACKAGE, SIMULATOR])
def test_the_connector_and_the_simulator_stay_apart(package: str) -> None:
    """The connector never imports the simulator; the simulator takes only the table and
    column catalogue from the connector (the contract's, not the client's behaviour)."""
    allowed = {f"{PACKAGE}.schema"} if package == SIMULATOR else set()
    other = SIMULATOR if package == PACKAGE else PACKAGE
    reached = {
        f"{path.relative_to(REPO)}:{line} {module}"
        for path in package_modules(package)
        for module, line in imports_of(path)
        if module.split(".")[0] == other and ".".join(module.split(".")[:2]) not in allowed
    }
    assert reached == set()


def test_the_checks_see_a_climbing_import_and_a_cycle() -> None:
    edges = {("api", "exports"): ["a"], ("exports", "api"): ["b"], ("ingest", "api"): ["c"]}
    assert cycles(edges) == [{"api", "exports"}]
    assert RANK["exports"] > RANK["api"], "api -> exports climbs"
