"""`coveo-ua init`: a project folder that loads Coveo UA data, the connector's `dlt init`.

It writes, into the current folder, ``.dlt/config.toml`` (every option of the source's
configuration spec, commented, with its default, and where the data goes),
``.dlt/secrets.toml`` (the token and the destination's credentials to fill in, listed
in ``.gitignore``), the example pipelines and, on request, the Airflow DAGs and the
Dagster definitions. The scripts are the files of ``coveo_ua_source/templates/project``
as they are; the destinations' credentials come from ``templates/destinations``. When
any file it would write exists, it writes nothing.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from coveo_ua_source.cli.config import CONFIG_ONLY_OPTIONS
from coveo_ua_source.exceptions import ConfigurationError
from coveo_ua_source.schema import TABLES

TEMPLATES = files("coveo_ua_source") / "templates"
CONFIG_FILE = ".dlt/config.toml"
SECRETS_FILE = ".dlt/secrets.toml"
GITIGNORE = ".gitignore"
PIPELINES = ("coveo_ua_pipeline.py", "backfill.py")
AIRFLOW = ("dags/coveo_ua_daily.py", "dags/coveo_ua_backfill.py")
DAGSTER = ("coveo_ua_dagster.py",)
PURPOSES = {
    "coveo_ua_pipeline.py": "the incremental load",
    "backfill.py": "a historical range, once",
    "dags/coveo_ua_daily.py": "Airflow: the daily load",
    "dags/coveo_ua_backfill.py": "Airflow: a backfill, one task per partition",
    "coveo_ua_dagster.py": "Dagster: the tables as daily-partitioned assets",
}
DEFAULT_DATASET = "usage_analytics"
FIRST_DAYS = 7  # a first load starts this many days back: one export a day

# The destinations init has a credentials template for, with what each needs installed.
DESTINATIONS: dict[str, str | None] = {
    "duckdb": None,
    "motherduck": "dlt[motherduck]",
    "postgres": "coveo-ua-source[postgres]",
    "redshift": "dlt[redshift]",
    "bigquery": "dlt[bigquery]",
    "snowflake": "dlt[snowflake]",
    "databricks": "dlt[databricks]",
    "filesystem": None,
}

# What each option that has a flag means (the others: CONFIG_ONLY_OPTIONS).
FLAG_OPTIONS: dict[str, str] = {
    "org_id": "organization id; required with OAuth tokens, implied by API keys",
    "region": "where the organization lives: us, eu, au, ca or hipaa",
    "base_url": "an explicit API root ending in /rest/ua, instead of region",
    "start_date": "where the first run starts, ISO 8601 (no offset: UTC)",
    "end_date": "exclusive end; none: the last whole hour at least settle_delay ago",
    "tables": "the tables to load; none: all of them",
    "window": "one export per window, an ISO 8601 duration",
    "lookback": "each run exports [last end - lookback, end) again",
    "export_format": "the CSV dialect of the exports: EXCEL or NO_NEWLINE",
    "max_exports": "a run that would create more exports is refused before any request",
}
# Shown for options whose default is none.
EXAMPLES: dict[str, Any] = {
    "org_id": "myorganization",
    "base_url": "https://platform-eu.cloud.coveo.com/rest/ua",
    "end_date": "2024-02-01",
    "tables": list(TABLES),
    "workdir": "/data/coveo_ua_downloads",
}
COMMENT_WIDTH = 88


class ExistingFileError(ConfigurationError):
    """A file init would write is there already; nothing was written (exit code 2)."""


@dataclass(frozen=True)
class ProjectFile:
    path: str  # relative to the project folder, with /
    text: str
    what: str  # one line for the report


def init_command(args: argparse.Namespace) -> int:
    """Write the project into the current folder, or nothing; print what and what next."""
    folder = Path.cwd()
    project = project_files(args.destination, _chosen_extras(args), date.today())
    _refuse_existing(folder, project)
    for file in project:
        target = folder / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.text, encoding="utf-8")
    ignored = _ignore_secrets(folder)
    print(report(args.destination, project, ignored))
    return 0


def _chosen_extras(args: argparse.Namespace) -> tuple[str, ...]:
    airflow = AIRFLOW if args.airflow or args.all else ()
    dagster = DAGSTER if args.dagster or args.all else ()
    return (*airflow, *dagster)


def project_files(destination: str, extras: Sequence[str], today: date) -> list[ProjectFile]:
    """Every file init writes for ``destination``, the ``extras`` templates included."""
    return [
        ProjectFile(CONFIG_FILE, config_toml(destination, today), "every source option"),
        ProjectFile(SECRETS_FILE, secrets_toml(destination), "the token and credentials"),
        *(ProjectFile(name, template(name), PURPOSES[name]) for name in (*PIPELINES, *extras)),
    ]


def template(name: str) -> str:
    """The text of ``templates/project/<name>``, the file init writes as ``<name>``."""
    return _resource(TEMPLATES / "project", name).read_text(encoding="utf-8")


def destination_template(destination: str) -> str:
    return (TEMPLATES / "destinations" / f"{destination}.toml").read_text(encoding="utf-8")


def _resource(root: Traversable, name: str) -> Traversable:
    for part in name.split("/"):
        root = root / part
    return root


def _refuse_existing(folder: Path, project: Sequence[ProjectFile]) -> None:
    existing = [file.path for file in project if (folder / file.path).exists()]
    if existing:
        named = (
            existing[0] if len(existing) == 1 else f"{', '.join(existing[:-1])} and {existing[-1]}"
        )
        verb, pronoun = ("exists", "it") if len(existing) == 1 else ("exist", "them")
        raise ExistingFileError(
            f"{named} {verb} already in {folder}: coveo-ua init overwrites no file, so it "
            f"wrote nothing; move {pronoun} away, or start the project in another folder"
        )


def _ignore_secrets(folder: Path) -> bool:
    """List the secrets file in .gitignore unless it is; whether the line was added."""
    path = folder / GITIGNORE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(line.strip().lstrip("/") == SECRETS_FILE for line in text.splitlines()):
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    path.write_text(f"{text}{separator}{SECRETS_FILE}\n", encoding="utf-8")
    return True


def source_defaults() -> dict[str, Any]:
    """Every option of the source's configuration spec, with its default."""
    from coveo_ua_source.source import coveo_ua_source

    spec = coveo_ua_source.ref.SPEC
    defaults = spec()
    return {name: getattr(defaults, name) for name in spec.get_resolvable_fields()}


def option_meanings() -> dict[str, str]:
    """What each source option means, the token's included."""
    return {**FLAG_OPTIONS, **CONFIG_ONLY_OPTIONS}


def config_toml(destination: str, today: date) -> str:
    start = today - timedelta(days=FIRST_DAYS)
    lines = [
        "# The Coveo UA source's options: uncomment one to change it. A flag of the",
        "# `coveo-ua` command, COVEO_UA_ACCESS_TOKEN or a SOURCES__COVEO_UA__<NAME> variable",
        "# wins over this file. The token goes in .dlt/secrets.toml.",
        "[sources.coveo_ua]",
    ]
    meanings = option_meanings()
    for name, default in source_defaults().items():
        if name == "access_token":
            continue
        value = start.isoformat() if name == "start_date" else default
        lines += _option_lines(name, value, meanings[name], commented=name != "start_date")
    return "\n".join([*lines, "", *_where_lines(destination), ""])


def _option_lines(name: str, value: Any, meaning: str, *, commented: bool) -> list[str]:
    shown = EXAMPLES.get(name, "") if value is None else value
    note = " (default: none)" if value is None and "default" not in meaning else ""
    prefix = "# " if commented else ""
    said = textwrap.wrap(f"{name}: {meaning}{note}", COMMENT_WIDTH, initial_indent="# ",
                         subsequent_indent="#   ")  # fmt: skip
    return ["", *said, f"{prefix}{name} = {toml_value(shown)}"]


def _where_lines(destination: str) -> list[str]:
    return [
        "# Where the data goes, for the coveo-ua command, coveo_ua_pipeline.py and backfill.py",
        "# (COVEO_UA_DESTINATION wins for the scripts; the Airflow DAGs and coveo_ua_dagster.py",
        "# read only COVEO_UA_DESTINATION and COVEO_UA_DATASET). Credentials: .dlt/secrets.toml.",
        "[coveo_ua]",
        f"destination = {toml_value(destination)}",
        f"dataset_name = {toml_value(DEFAULT_DATASET)}",
    ]


def toml_value(value: Any) -> str:
    """A TOML literal of a default: a boolean, a number, a string or a list of them."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def secrets_toml(destination: str) -> str:
    return "\n".join(
        [
            "# Secrets: never commit this file (.gitignore lists it). Environment variables",
            "# win over it (COVEO_UA_ACCESS_TOKEN, SOURCES__COVEO_UA__ACCESS_TOKEN, ...).",
            "[sources.coveo_ua]",
            "# an API key or OAuth token with the privileges Analytics - Data exports - Edit",
            "# and Analytics - Data exports - View",
            'access_token = ""',
            "",
            destination_template(destination),
        ]
    )


def report(destination: str, project: Sequence[ProjectFile], ignored: bool) -> str:
    """What init wrote and the commands to run next."""
    width = max(len(file.path) for file in project) + 2
    lines = [f"wrote a coveo-ua project loading into {destination}:"]
    lines += [f"  {file.path:<{width}}{file.what}" for file in project]
    if ignored:
        lines.append(f"  {GITIGNORE:<{width}}now lists {SECRETS_FILE}")
    return "\n".join([*lines, "", *_next_lines(destination, {f.path for f in project})])


def _next_lines(destination: str, written: set[str]) -> list[str]:
    needs = DESTINATIONS[destination]
    lines = ["next:"]
    if needs:
        lines.append(f'  pip install "{needs}"          # {destination}\'s driver')
    lines += [
        f"  fill in access_token (and the credentials) in {SECRETS_FILE}; check start_date",
        f"  and region in {CONFIG_FILE}",
        "  coveo-ua plan                  # what the first load exports; creates nothing",
        "  python coveo_ua_pipeline.py    # the load (or: coveo-ua load)",
    ]
    if AIRFLOW[0] in written:
        lines += [
            "  Airflow: copy dags/ into its DAGs folder; give the tasks COVEO_UA_DESTINATION="
            f"{destination}",
            "  and the settings (SOURCES__COVEO_UA__*, DESTINATION__*) in their environment",
        ]
    if DAGSTER[0] in written:
        lines.append(
            f"  COVEO_UA_DESTINATION={destination} dagster dev -f coveo_ua_dagster.py   # Dagster"
        )
    return lines


__all__ = [
    "DESTINATIONS",
    "ExistingFileError",
    "config_toml",
    "init_command",
    "project_files",
    "secrets_toml",
    "source_defaults",
]
