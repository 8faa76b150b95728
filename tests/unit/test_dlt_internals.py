"""Only ``coveo_ua_source/dlt_internals.py`` imports dlt's internals.

dlt's public API is its top-level names (``dlt.Pipeline``, ``dlt.current``, ``dlt.mark``,
...), ``dlt.sources`` and ``dlt.destinations``; the rest (``dlt.common``, ``dlt.extract``,
``dlt.pipeline``, ...) may move in any release, so every use of it goes through the one
module that names each internal with its reason. Every import counts: lazy ones inside
functions, and those made only for annotations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "coveo_ua_source"
ADAPTER = "coveo_ua_source/dlt_internals.py"
INTERNAL = ("common", "extract", "pipeline", "destinations.impl", "normalize", "load", "helpers")


def is_internal(module: str) -> bool:
    """``dlt.common.pipeline`` -> True; ``dlt``, ``dlt.sources``, ``dlt.destinations`` -> False."""
    return any(module == f"dlt.{sub}" or module.startswith(f"dlt.{sub}.") for sub in INTERNAL)


def internal_imports(source: str) -> Iterator[str]:
    """The dlt internals ``source`` imports (``from dlt.x import y``, ``import dlt.x``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if is_internal(alias.name))
        elif isinstance(node, ast.ImportFrom) and node.module and is_internal(node.module):
            yield node.module  # not ``from dlt import pipeline``: the public function


def modules_importing_internals() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        modules = sorted(set(internal_imports(path.read_text("utf-8"))))
        if modules:
            found[path.relative_to(REPO).as_posix()] = modules
    return found


def test_only_the_adapter_imports_dlt_internals() -> None:
    found = modules_importing_internals()
    assert ADAPTER in found, "the adapter is where the internals are: the check sees nothing"
    others = {path: modules for path, modules in found.items() if path != ADAPTER}
    assert others == {}, "import them through coveo_ua_source.dlt_internals, with a reason"


IMPORTS = {
    "from": ("from dlt.common.pipeline import LoadInfo", ["dlt.common.pipeline"]),
    "import": ("import dlt.extract.items", ["dlt.extract.items"]),
    "lazy": ("def f():\n    from dlt.pipeline.exceptions import E", ["dlt.pipeline.exceptions"]),
    "annotations-only": (
        "if TYPE_CHECKING:\n    from dlt.common.schema.typing import TColumnSchema",
        ["dlt.common.schema.typing"],
    ),
    "impl": ("from dlt.destinations.impl.duckdb import x", ["dlt.destinations.impl.duckdb"]),
    "public": ("import dlt\nfrom dlt.sources import DltSource, DltResource", []),
    "destinations": ("from dlt.destinations.sql_client import SqlClientBase", []),
    "top-level": ("from dlt import pipeline, current", []),
    "prefix-only": ("from dlt.commonplace import x", []),
}


@pytest.mark.parametrize(("source", "expected"), IMPORTS.values(), ids=IMPORTS.keys())
def test_the_check_tells_internal_imports_from_public_ones(
    source: str, expected: list[str]
) -> None:
    assert list(internal_imports(source)) == expected
