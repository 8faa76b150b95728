"""Arguments that cannot work are refused before any request, naming the option."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from helpers import make_source

from coveo_ua_simulator import Simulator
from coveo_ua_source.exceptions import ConfigurationError


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"poll_interval": -1}, "poll_interval=-1", id="negative-poll"),
        pytest.param({"poll_interval": 0}, "poll_interval=0", id="zero-poll"),
        pytest.param({"max_wait": -5.0}, "max_wait=-5.0", id="negative-max-wait"),
        pytest.param({"max_wait": 0}, "max_wait=0", id="zero-max-wait"),
        pytest.param({"max_concurrent_exports": -2}, "max_concurrent_exports=-2", id="neg-conc"),
        pytest.param({"max_concurrent_exports": 0}, "max_concurrent_exports=0", id="zero-conc"),
        pytest.param({"max_concurrent_exports": 1.5}, "max_concurrent_exports", id="frac-conc"),
        pytest.param({"window": timedelta(hours=-1)}, "window", id="negative-window"),
        pytest.param({"window": "PT0S"}, "window", id="zero-window"),
        pytest.param({"lookback": timedelta(days=-1)}, "lookback=", id="negative-lookback"),
        pytest.param({"settle_delay": timedelta(-1)}, "settle_delay=", id="negative-settle"),
        pytest.param({"download_min_bytes": 0}, "download_min_bytes=0", id="zero-min-bytes"),
        pytest.param({"download_stall_seconds": -1}, "download_stall_seconds", id="neg-stall"),
        pytest.param({"download_deadline": 0}, "download_deadline=0", id="zero-deadline"),
        pytest.param({"base_url": "ftp://127.0.0.1/rest/ua"}, "base_url", id="ftp-base-url"),
        pytest.param({"base_url": "file:///rest/ua"}, "base_url", id="file-base-url"),
        pytest.param({"max_exports": 0}, "max_exports=0", id="zero-max-exports"),
        pytest.param({"export_format": "CSV"}, "export_format='CSV'", id="unknown-format"),
        pytest.param({"access_token": "  "}, "no Coveo access token", id="blank-token"),
    ],
)
def test_unworkable_arguments_are_refused_before_any_request(
    simulator: Simulator, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_source(simulator, **overrides)
    assert simulator.requests == []


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"lookback": "PT0S"}, id="zero-lookback"),
        pytest.param({"settle_delay": timedelta(0), "end_date": None}, id="zero-settle"),
    ],
)
def test_zero_lookback_and_settle_delay_are_allowed(
    simulator: Simulator, overrides: dict[str, Any]
) -> None:
    make_source(simulator, **overrides)
    assert simulator.requests == []
