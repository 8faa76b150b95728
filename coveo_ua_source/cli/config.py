"""The source options only configuration can set (no flag), as `load --help` lists them.

Resolving the configuration itself is ``coveo_ua_source.configuration``'s.
"""

from __future__ import annotations

from coveo_ua_source import settings

# Source options that have no command-line flag: `load --help` lists them with their key.
CONFIG_ONLY_OPTIONS: dict[str, str] = {
    "access_token": "API key or OAuth token (secret; or COVEO_UA_ACCESS_TOKEN)",
    "filters": "Coveo Read filters on every event (f), a list",
    "search_filters": "filters on searches and clicks (fs), a list",
    "custom_event_filters": "filters on custom events (fc), a list",
    "dimensions": "dimensions to export (default: all); identifiers are added",
    "use_display_names": "ask for display-name headers (default: false)",
    "poll_interval": f"seconds before the first status check (default: "
    f"{settings.DEFAULT_POLL_INTERVAL})",
    "max_wait": f"seconds an export may stay PENDING (default: {settings.DEFAULT_MAX_WAIT})",
    "max_concurrent_exports": "exports built at the same time (default: "
    f"{settings.DEFAULT_MAX_CONCURRENT_EXPORTS})",
    "settle_delay": f"how old data must be before end_date=None loads it (default: "
    f"{settings.DEFAULT_SETTLE_DELAY})",
    "keep_exports": "keep exports on Coveo after loading (default: false)",
    "workdir": "where downloads are kept while read (default: the pipeline's folder)",
    "download_min_bytes": "a download that receives fewer bytes than this over "
    f"download_stall_seconds is stalled (default: {settings.DOWNLOAD_MIN_BYTES})",
    "download_stall_seconds": "the stall watchdog's period in seconds (default: "
    f"{settings.DOWNLOAD_STALL_SECONDS})",
    "download_deadline": "seconds one export's download may take in all (default: "
    f"{settings.DOWNLOAD_DEADLINE})",
    "partition": "load exactly [start_date, end_date) without reading or moving the "
    "incremental position (parallel backfills; default: false)",
    "lease_timeout": "seconds a run waits for its turn while another run loads the same "
    f"dataset (default: {settings.DEFAULT_LEASE_TIMEOUT:.0f})",
    "coordination": "how runs of a dataset take turns: auto, table or off (default: auto)",
    "skip_failing_windows_after": "skip a window the service failed to give in this many "
    "runs, so later windows load; it is retried (default: 0, never)",
}


def config_only_help() -> str:
    """The epilog of `load --help`: options only config can set, with their keys."""
    lines = [
        "options only config can set: in [sources.coveo_ua] of .dlt/config.toml or",
        ".dlt/secrets.toml, or as SOURCES__COVEO_UA__<NAME> environment variables:",
    ]
    lines += [f"  {name:<24} {meaning}" for name, meaning in CONFIG_ONLY_OPTIONS.items()]
    return "\n".join(lines)


__all__ = ["CONFIG_ONLY_OPTIONS", "config_only_help"]
