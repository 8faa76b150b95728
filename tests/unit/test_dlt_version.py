"""Importing the package with a dlt outside the supported range fails with one clear error."""

from __future__ import annotations

import importlib
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from coveo_ua_source.dlt_version import SUPPORTED_DLT

REPO = Path(__file__).resolve().parents[2]


def installed_dlt(monkeypatch: pytest.MonkeyPatch, version: str | None) -> None:
    """Make the version lookup answer ``version`` for dlt (None: dlt is not installed)."""
    real_version = metadata.version

    def version_of(name: str) -> str:
        if name != "dlt":
            return real_version(name)
        if version is None:
            raise metadata.PackageNotFoundError(name)
        return version

    monkeypatch.setattr(metadata, "version", version_of)


def import_package_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the package's ``__init__`` again; the loaded package is put back afterwards."""
    monkeypatch.delitem(sys.modules, "coveo_ua_source")
    importlib.import_module("coveo_ua_source")


@pytest.mark.parametrize("version", ["1.21.0", "1.1.0", "0.5.4", "2.0.0", "2.0.0a1", "3.1"])
def test_importing_with_a_dlt_out_of_range_says_which_range_and_how_to_fix(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    installed_dlt(monkeypatch, version)
    with pytest.raises(ImportError) as raised:
        import_package_afresh(monkeypatch)
    assert str(raised.value) == (
        f"coveo-ua-source supports dlt>=1.22,<2; dlt {version} is installed. "
        'Run: pip install "dlt>=1.22,<2"'
    )


def test_importing_without_dlt_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    installed_dlt(monkeypatch, None)
    with pytest.raises(ImportError) as raised:
        import_package_afresh(monkeypatch)
    assert str(raised.value) == (
        "coveo-ua-source needs dlt>=1.22,<2 and dlt is not installed; "
        'run: pip install "dlt>=1.22,<2"'
    )


@pytest.mark.parametrize("version", ["1.22.0", "1.22.2", "1.31.0", "1.40.1", "1.99.0rc1"])
def test_importing_with_a_dlt_in_range_succeeds(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    installed_dlt(monkeypatch, version)
    import_package_afresh(monkeypatch)
    assert sys.modules["coveo_ua_source"].run_load is not None


def test_pyproject_declares_the_checked_range_everywhere_it_names_dlt() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    dlt_ranges = {
        r.split("]", 1)[-1] if "[" in r else r.removeprefix("dlt")
        for r in requirements
        if r.startswith("dlt")
    }
    assert dlt_ranges == {SUPPORTED_DLT}
