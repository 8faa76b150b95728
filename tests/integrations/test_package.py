"""The repository is a package anyone can install and read without files from elsewhere."""

from __future__ import annotations

import re
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from coveo_ua_simulator.config import SimulatorConfig

REPO = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".in", ".sh", ""}


def repository_text_files() -> list[Path]:
    """The files git tracks or would add (ignored ones, such as virtual environments and
    caches that tests create, are not part of the repository)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    files = [REPO / name for name in listed]
    return [path for path in files if path.is_file() and path.suffix in TEXT_SUFFIXES]


def test_nothing_points_outside_the_repository() -> None:
    # Built from parts so that this file does not match itself.
    outside = re.compile("|".join(re.escape(part + "/") for part in ("shared", "/" + "work")))
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in repository_text_files()
        for number, line in enumerate(path.read_text("utf-8", "replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert offenders == []


def test_license_is_the_apache_2_text_named_by_the_metadata() -> None:
    text = (REPO / "LICENSE").read_text("utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.splitlines()) > 170, "the full text, not a notice"
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]


@pytest.mark.parametrize(
    "knob",
    [
        "timestamp_style",
        "bom",
        "header_case",
        "empty_table",
        "max_rows_per_file",
        "row_limit",
        "estimate_factor",
        "pending_polls",
        "build_delay",
    ],
)
def test_api_account_says_how_the_simulator_produces_each_unknown(knob: str) -> None:
    assert knob in vars(SimulatorConfig())
    text = (REPO / "docs" / "coveo-exports-api.md").read_text("utf-8")
    assert "**Confirmed**" in text
    assert "**Assumed**" in text
    assert f"`{knob}`" in text


def test_sdist_ships_license_changelog_and_docs() -> None:
    manifest = (REPO / "MANIFEST.in").read_text("utf-8")
    assert "include LICENSE CHANGELOG.md README.md" in manifest
    assert "recursive-include docs *.md" in manifest
    assert "## [Unreleased]" in (REPO / "CHANGELOG.md").read_text("utf-8")
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    assert ci.index("make test") < ci.index("bash .ci/package.sh")


def test_the_wheel_is_typed_and_carries_the_templates_of_init() -> None:
    """.ci/package.sh checks the built wheel; here, what makes setuptools put them in."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    assert "Typing :: Typed" in pyproject["project"]["classifiers"]
    data = pyproject["tool"]["setuptools"]["package-data"]["coveo_ua_source"]
    assert (REPO / "coveo_ua_source" / "py.typed").is_file()
    assert "py.typed" in data
    package = REPO / "coveo_ua_source"
    templates = [p for p in (package / "templates").rglob("*") if p.is_file()]
    templates = [p for p in templates if "__pycache__" not in p.parts]
    assert templates, "coveo-ua init has files to write"
    for path in templates:
        name = path.relative_to(package).as_posix()
        assert any(fnmatch(name, pattern) for pattern in data), name
    manifest = (REPO / "MANIFEST.in").read_text("utf-8")
    assert "graft cassettes" in manifest, "the sdist's tests read the cassettes"
