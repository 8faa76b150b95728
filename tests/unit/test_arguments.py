"""The arguments module: each argument checked once, the dry run builds only its windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coveo_ua_source import settings
from coveo_ua_source.api.credentials import require_token
from coveo_ua_source.arguments import WindowRange, export_request, load_settings, window_range
from coveo_ua_source.exceptions import ConfigurationError

START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 3, 4, tzinfo=UTC)


def windows(**overrides: Any) -> WindowRange:
    arguments: dict[str, Any] = {
        "start_date": "2024-03-01", "end_date": "2024-03-04", "tables": None,
        "window": "P1D", "lookback": "PT0S", "settle_delay": "PT1H",
        "max_exports": settings.DEFAULT_MAX_EXPORTS,
    }  # fmt: skip
    return window_range(**{**arguments, **overrides})


def test_window_range_parses_what_decides_the_windows() -> None:
    chosen = windows(tables=["groups", "searches"], window="PT6H", max_exports=7)
    assert (chosen.start, chosen.end) == (START, END)
    assert chosen.window == timedelta(hours=6)
    assert set(chosen.tables) == {"groups", "searches"}
    assert chosen.max_exports == 7
    assert chosen.min_window == settings.MIN_SPLIT_WINDOW


def test_a_window_shorter_than_the_split_floor_is_the_floor() -> None:
    assert windows(window="PT30M").min_window == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"max_exports": 0}, "max_exports=0", id="zero-max-exports"),
        pytest.param({"max_exports": True}, "max_exports=True", id="bool-max-exports"),
        pytest.param({"max_exports": 2.5}, "max_exports=2.5", id="frac-max-exports"),
        pytest.param({"lookback": "-P1D"}, "lookback=", id="negative-lookback"),
        pytest.param({"settle_delay": timedelta(-1)}, "settle_delay=", id="negative-settle"),
        pytest.param({"tables": ["views"]}, "views", id="unknown-table"),
        pytest.param({"end_date": "2024-02-01"}, "end_date", id="end-before-start"),
    ],
)
def test_window_range_refuses(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        windows(**overrides)


def test_export_request_adds_the_identifiers_and_normalises_the_format() -> None:
    request = export_request(
        windows(tables=["searches"]), dimensions=["country"], export_format=" no_newline "
    )
    assert request.export_format == "NO_NEWLINE"
    assert request.dimensions[0] == "country"
    assert "datetime" in request.dimensions
    assert "searchId" in request.dimensions


@pytest.mark.parametrize("value", ["CSV", "", None, 1])
def test_export_request_refuses_an_unknown_format(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="use 'EXCEL' or 'NO_NEWLINE'"):
        export_request(windows(), export_format=value)


def test_the_dry_run_request_needs_only_the_filters() -> None:
    request = export_request(windows(), filters=["country=='CA'"])
    assert request.filters == ("country=='CA'",)
    assert (request.dimensions, request.export_format) == ((), "EXCEL")


def _load(**overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "poll_interval": 1.0, "max_wait": 60.0, "max_concurrent_exports": 2,
        "keep_exports": False, "workdir": None,
    }  # fmt: skip
    chosen = windows(window="PT30M")
    return load_settings(chosen, export_request(chosen), **{**arguments, **overrides})


def test_load_settings_take_the_split_floor_from_the_windows() -> None:
    load = _load(workdir="exports")
    assert load.runner.min_window == timedelta(minutes=30)
    assert load.runner.max_concurrent == 2
    assert str(load.workdir) == "exports"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"poll_interval": 0}, "poll_interval=0", id="zero-poll"),
        pytest.param({"max_wait": -1}, "max_wait=-1", id="negative-wait"),
        pytest.param({"max_concurrent_exports": True}, "max_concurrent", id="bool-concurrency"),
    ],
)
def test_load_settings_refuse(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _load(**overrides)


def test_a_partition_needs_an_end_date() -> None:
    chosen = windows(end_date=None)
    with pytest.raises(ConfigurationError, match="pass end_date too"):
        load_settings(
            chosen, export_request(chosen), poll_interval=1.0, max_wait=1.0,
            max_concurrent_exports=1, keep_exports=False, workdir=None, partition=True,
        )  # fmt: skip


def test_the_token_is_stripped() -> None:
    assert require_token("  abc-123\n") == "abc-123"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param(None, "no Coveo access token", id="none"),
        pytest.param(" \t", "no Coveo access token", id="blank"),
        pytest.param("secret-part\r\nX-Injected: yes", "position 12 of", id="crlf"),
        pytest.param("two words", "position 4 of", id="space"),
        pytest.param("bell\x07", "control character", id="control"),
    ],
)
def test_a_token_that_cannot_work_is_refused_without_quoting_it(
    token: str | None, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        require_token(token)
    if token and token.strip():
        assert token.strip() not in str(raised.value)
        assert "secret" not in str(raised.value)
        assert "words" not in str(raised.value)
