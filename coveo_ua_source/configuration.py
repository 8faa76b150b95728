"""How the library resolves the source's options outside ``pipeline.run``: explicit values,
then ``COVEO_UA_ACCESS_TOKEN``, then whatever dlt resolves for the source's own
configuration spec (``SOURCES__COVEO_UA__*``, ``.dlt/secrets.toml``, ``.dlt/config.toml``,
in dlt's order). Resolving through the source's spec means the CLI, the load recipe and
``coveo_ua_source(...)`` can never read different values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from coveo_ua_source import settings
from coveo_ua_source.api import credentials
from coveo_ua_source.exceptions import ConfigurationError

TOKEN_VARIABLE = "COVEO_UA_ACCESS_TOKEN"  # noqa: S105  # a variable name, not a secret


class MissingSettingError(ConfigurationError):
    """A required setting is set nowhere; the CLI exits with 2 (usage)."""


def resolve_source_config(
    explicit: Mapping[str, Any], pipeline_name: str | None = None
) -> dict[str, Any]:
    """Every source option: ``explicit`` values, then env and TOML as the source reads them.

    Required options that are set nowhere come back as None; ``require_token`` and
    ``require_start_date`` turn that into an error naming where to set them.
    """
    from coveo_ua_source.dlt_internals import resolve_in_sections
    from coveo_ua_source.source import coveo_ua_source

    reference = coveo_ua_source.ref
    sections = ("sources", reference.section, reference.name)
    chosen = {key: value for key, value in explicit.items() if value is not None}
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token and "access_token" not in chosen:
        chosen["access_token"] = token
    resolved = resolve_in_sections(reference.SPEC(), sections, pipeline_name, chosen)
    return {name: getattr(resolved, name) for name in reference.SPEC.get_resolvable_fields()}


def require_token(config: Mapping[str, Any]) -> str:
    token = config.get("access_token")
    if not token or not str(token).strip():
        raise MissingSettingError(
            f"no Coveo access token: set {TOKEN_VARIABLE} or SOURCES__COVEO_UA__ACCESS_TOKEN, "
            "or put access_token under [sources.coveo_ua] in .dlt/secrets.toml "
            "(in Python: coveo_ua_source(access_token=...))"
        )
    return credentials.require_token(str(token))  # what a token may contain is checked there


def require_start_date(config: Mapping[str, Any]) -> Any:
    if config.get("start_date") in (None, ""):
        raise MissingSettingError(
            "no start date: pass --start-date YYYY-MM-DD or set start_date under "
            "[sources.coveo_ua] in .dlt/config.toml (or SOURCES__COVEO_UA__START_DATE)"
        )
    return config["start_date"]


def client_from_config(config: Mapping[str, Any]) -> Any:
    """A CoveoClient for the org, region or base_url the configuration names."""
    from coveo_ua_source.api.client import CoveoClient

    return CoveoClient(
        require_token(config),
        org_id=config.get("org_id"),
        base_url=config.get("base_url"),
        region=config.get("region") or settings.DEFAULT_REGION,
    )
