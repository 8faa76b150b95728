"""Helpers of the CLI tests: dlt config files in the cwd, and the `coveo-ua` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from coveo_ua_simulator import Simulator
from helpers import TOKEN

BIN = Path(sys.executable).parent


def write_dlt_config(folder: Path, simulator: Simulator, **options: Any) -> None:
    """The connection only in .dlt/config.toml and .dlt/secrets.toml under ``folder``."""
    settings = {"base_url": simulator.api_root, "poll_interval": 0.01, **options}
    lines = ["[sources.coveo_ua]", *(f"{key} = {_toml(value)}" for key, value in settings.items())]
    (folder / ".dlt").mkdir(exist_ok=True)
    (folder / ".dlt" / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    secrets = f'[sources.coveo_ua]\naccess_token = "{TOKEN}"\n'
    (folder / ".dlt" / "secrets.toml").write_text(secrets, encoding="utf-8")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def cli_environment(tmp_path: Path) -> dict[str, str]:
    """The environment of a `coveo-ua` subprocess: no token or source settings of the user."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SOURCES__", "DESTINATION__", "COVEO_UA_ACCESS"))
    }
    environment["PATH"] = f"{BIN}{os.pathsep}{environment.get('PATH', '')}"
    environment["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    environment["DLT_DATA_DIR"] = str(tmp_path / "dlt")
    return environment


def reload_dlt_project(run_dir: Path) -> str:
    """Point dlt's config providers at ``run_dir``/.dlt (a process reads them once, at
    start, from its cwd); returns the previous run dir to restore."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    context = Container()[PluggableRunContext]
    before = str(context.context.run_dir)
    context.reload(str(run_dir))
    return before
