"""Downloads that must end: the stall watchdog, the deadline, and redirects that are refused.

The stall tests drip the body from the simulator's storage host and use limits of a few
tenths of a second, so they take about a second; the default limits are proven with an
injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TOKEN, utc

from coveo_ua_simulator import Simulator, SimulatorConfig
from coveo_ua_source.api.client import CoveoClient, ExportInfo
from coveo_ua_source.api.download import DownloadLimits, DownloadStalled, StallWatchdog
from coveo_ua_source.exceptions import (
    ConfigurationError,
    CoveoAPIError,
    CoveoAuthError,
    CoveoRetryExhaustedError,
    CoveoStorageError,
    CoveoUAError,
    DownloadStalledError,
)
from coveo_ua_source.settings import (
    DOWNLOAD_DEADLINE,
    DOWNLOAD_MAX_REDIRECTS,
    DOWNLOAD_MIN_BYTES,
    DOWNLOAD_STALL_SECONDS,
)

START, END = utc(2024, 3, 1), utc(2024, 3, 1, 6)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(token=TOKEN)) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh(sim: Simulator) -> Iterator[None]:
    sim.clear_faults()
    sim.clear_requests()
    yield
    sim.clear_faults()


@pytest.fixture
def make_client(sim: Simulator) -> Callable[..., CoveoClient]:
    def make(**kwargs: Any) -> CoveoClient:
        return CoveoClient(TOKEN, base_url=sim.api_root, sleep=lambda _s: None, **kwargs)

    return make


def _ready(client: CoveoClient) -> ExportInfo:
    info = client.create_export(START, END, tables=["searches"])
    while info.status == "PENDING":
        info = client.get_export(info.id)
    return info


def _storage_gets(sim: Simulator) -> int:
    return len([r for r in sim.requests if r.server == "storage"])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the stall watchdog --------------------------------------------------------------


def test_default_limits_stall_below_64_kib_per_minute_with_a_fake_clock() -> None:
    assert (DOWNLOAD_MIN_BYTES, DOWNLOAD_STALL_SECONDS) == (64 << 10, 60.0)
    clock = FakeClock()
    watchdog = StallWatchdog(DownloadLimits(), clock, started=clock.now)
    clock.now += 59.9
    watchdog.check(10)  # within the first period nothing is judged
    clock.now += 0.1
    watchdog.check(DOWNLOAD_MIN_BYTES)  # 64 KiB in 60 s: alive, a new period starts
    clock.now += 60
    with pytest.raises(DownloadStalled, match="stalled") as raised:
        watchdog.check(2 * DOWNLOAD_MIN_BYTES - 1)
    assert "65535 bytes arrived in the last 60 s" in str(raised.value)
    assert f"{2 * DOWNLOAD_MIN_BYTES - 1} bytes arrived in all" in str(raised.value)
    assert not raised.value.final


def test_default_deadline_ends_even_a_steady_download_with_a_fake_clock() -> None:
    clock = FakeClock()
    watchdog = StallWatchdog(DownloadLimits(), clock, started=clock.now)
    received = 0
    while clock.now - 1000.0 <= DOWNLOAD_DEADLINE - 60:
        clock.now += 60
        received += 10 * DOWNLOAD_MIN_BYTES
        watchdog.check(received)
    clock.now += 61
    with pytest.raises(DownloadStalled, match="download_deadline=21600 s") as raised:
        watchdog.check(received + DOWNLOAD_MIN_BYTES)
    assert raised.value.final


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"min_bytes": 0}, id="min-bytes-zero"),
        pytest.param({"stall_seconds": -1}, id="stall-negative"),
        pytest.param({"deadline": 0}, id="deadline-zero"),
    ],
)
def test_download_limits_are_checked(kwargs: dict[str, Any]) -> None:
    name = "download_" + next(iter(kwargs))
    with pytest.raises(ConfigurationError, match=name):
        DownloadLimits(**kwargs)


def test_a_dripping_storage_host_fails_on_its_own_with_how_much_arrived(
    sim: Simulator, make_client: Callable[..., CoveoClient], tmp_path: Path
) -> None:
    limits = DownloadLimits(min_bytes=100, stall_seconds=0.3, deadline=60)
    client = make_client(download_limits=limits)
    info = _ready(client)
    # 50 bytes a second: a byte well within every read timeout, 15 per stall period
    sim.inject("drip", count=5, server="storage", bytes_per_second=50)
    destination = tmp_path / "export.zip"
    began = time.monotonic()
    with pytest.raises(DownloadStalledError) as raised:
        client.download_export(info.id, destination)
    took = time.monotonic() - began
    message = str(raised.value)
    assert "the download stalled" in message
    assert "fewer than download_min_bytes=100" in message, "the watchdog, not a read timeout"
    assert "bytes arrived in all" in message
    assert "in each of 2 attempts from a fresh redirect" in message
    assert info.id in message
    assert isinstance(raised.value, CoveoStorageError)
    assert took < 15, f"two stalled attempts should take ~0.7 s, took {took:.1f} s"
    assert _storage_gets(sim) == 2
    assert not destination.exists()


def test_a_dripping_download_hits_the_deadline_without_retrying(
    sim: Simulator, make_client: Callable[..., CoveoClient], tmp_path: Path
) -> None:
    limits = DownloadLimits(min_bytes=1, stall_seconds=30, deadline=0.4)
    client = make_client(download_limits=limits)
    info = _ready(client)
    sim.inject("drip", count=5, server="storage", bytes_per_second=20)
    began = time.monotonic()
    with pytest.raises(DownloadStalledError, match=r"outlasted download_deadline=0\.4 s"):
        client.download_export(info.id, tmp_path / "export.zip")
    assert time.monotonic() - began < 10
    assert _storage_gets(sim) == 1


def test_a_slow_but_steady_download_completes(
    sim: Simulator, make_client: Callable[..., CoveoClient], tmp_path: Path
) -> None:
    client = make_client(download_limits=DownloadLimits(min_bytes=1, stall_seconds=0.4))
    info = _ready(client)
    sim.inject("throttle", server="storage", seconds=1.0)  # 50 pieces over 2.5 stall periods
    written = client.download_export(info.id, tmp_path / "export.zip")
    assert written == (tmp_path / "export.zip").stat().st_size > 0
    assert _storage_gets(sim) == 1, "the slow download was not cut and fetched again"


# --- redirects -----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["file", "ftp"])
@pytest.mark.parametrize("server", ["api", "storage"])
def test_non_http_redirects_are_refused(
    sim: Simulator,
    make_client: Callable[..., CoveoClient],
    tmp_path: Path,
    scheme: str,
    server: str,
) -> None:
    client = make_client()
    info = _ready(client)
    path = r"/v15/exports/[^/]+$" if server == "api" else None
    sim.inject("bad_redirect", server=server, path=path, scheme=scheme)
    with pytest.raises(CoveoStorageError) as raised:
        client.download_export(info.id, tmp_path / "export.zip")
    message = str(raised.value)
    assert f"redirected to a {scheme}: location" in message
    assert "only http(s) redirects are followed" in message
    assert "/etc/passwd" not in message
    assert not (tmp_path / "export.zip").exists()


def test_a_redirect_loop_ends_after_the_bounded_hops(
    sim: Simulator, make_client: Callable[..., CoveoClient], tmp_path: Path
) -> None:
    client = make_client()
    info = _ready(client)
    sim.inject("redirect_loop", count=50, server="storage")
    with pytest.raises(CoveoStorageError, match="redirected more than 5 times"):
        client.download_export(info.id, tmp_path / "export.zip")
    assert _storage_gets(sim) == DOWNLOAD_MAX_REDIRECTS + 1


def test_a_redirect_loop_on_an_api_call_is_a_coveo_error(
    sim: Simulator, make_client: Callable[..., CoveoClient]
) -> None:
    sim.inject("redirect_loop", count=100, server="api", path="rowLimit")
    with pytest.raises(CoveoAPIError, match="TooManyRedirects") as raised:
        make_client().row_limit()
    assert "check base_url, proxies" in str(raised.value)


def test_a_storage_401_is_a_refused_link_not_a_bad_token(
    sim: Simulator, make_client: Callable[..., CoveoClient], tmp_path: Path
) -> None:
    client = make_client(max_attempts=3)
    info = _ready(client)
    sim.inject("401", count=3, server="storage")
    with pytest.raises(CoveoRetryExhaustedError) as raised:
        client.download_export(info.id, tmp_path / "export.zip")
    message = str(raised.value)
    assert not isinstance(raised.value, CoveoAuthError)
    assert "HTTP 401" in message
    assert "refusing the pre-signed link" in message
    assert "access token is invalid" not in message
    assert _storage_gets(sim) == 3, "each attempt asks for a fresh redirect"


def test_a_storage_401_once_is_retried_and_the_download_succeeds(
    sim: Simulator, make_client: Callable[..., CoveoClient], tmp_path: Path
) -> None:
    client = make_client()
    info = _ready(client)
    sim.inject("401", server="storage")
    assert client.download_export(info.id, tmp_path / "export.zip") > 0


def test_an_api_401_still_says_the_token_is_invalid(
    sim: Simulator, make_client: Callable[..., CoveoClient]
) -> None:
    sim.inject("401", server="api")
    with pytest.raises(CoveoAuthError, match="access token is invalid or expired"):
        make_client().row_limit()


@pytest.mark.parametrize("base_url", ["ftp://example.com/rest/ua", "file:///rest/ua"])
def test_non_http_base_url_is_refused_before_any_request(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url must be an absolute http"):
        CoveoClient(TOKEN, base_url=base_url)


def test_a_base_url_with_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(ConfigurationError) as refused:
        CoveoClient(TOKEN, base_url=f"https://user:{TOKEN}@platform.cloud.coveo.com/rest/ua")
    assert "must not carry credentials" in str(refused.value)
    assert TOKEN not in str(refused.value)


def test_every_download_failure_is_a_coveo_error() -> None:
    assert issubclass(DownloadStalledError, CoveoUAError)
    assert issubclass(CoveoStorageError, CoveoAPIError)
