"""The dlt releases the connector supports, checked when the package is imported.

The connector reaches into a few dlt internals (``dlt_internals``), so a dlt outside the
tested range fails in odd places (a bare ``KeyError`` deep in a load). Importing the
package checks the installed version first and says how to fix it. Only the standard
library and ``packaging`` (which dlt itself requires) are imported here: ``import dlt``
comes after the check.
"""

from __future__ import annotations

from importlib import metadata

SUPPORTED_DLT = ">=1.22,<2"
"""The range pyproject.toml declares; the oldest end runs the tests in CI
(.ci/dlt-oldest.sh), the newest is constraints.txt's."""


def require_supported_dlt() -> None:
    """Raise ImportError naming the supported range, the installed dlt and the fix, unless
    the installed dlt is in ``SUPPORTED_DLT``."""
    fix = f'pip install "dlt{SUPPORTED_DLT}"'
    try:
        installed = metadata.version("dlt")
    except metadata.PackageNotFoundError:
        raise ImportError(
            f"coveo-ua-source needs dlt{SUPPORTED_DLT} and dlt is not installed; run: {fix}"
        ) from None
    from packaging.specifiers import SpecifierSet  # noqa: PLC0415 (installed with dlt)

    if not SpecifierSet(SUPPORTED_DLT).contains(installed, prereleases=True):
        raise ImportError(
            f"coveo-ua-source supports dlt{SUPPORTED_DLT}; dlt {installed} is installed. Run: {fix}"
        )
