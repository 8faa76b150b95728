"""Retries, errors and download safety of CoveoClient against a live simulator.

Faults are injected into the simulator; ``sleep`` is injected so waits are recorded, never
slept, and ``random`` is fixed so jitter is exact. Request counts come from
``sim.requests``: the simulator's own log of what it received.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import TOKEN, utc

from coveo_ua_simulator import RequestRecord, Simulator, SimulatorConfig
from coveo_ua_source.api.client import CoveoClient, ExportInfo
from coveo_ua_source.api.errors import parse_retry_after
from coveo_ua_source.api.transport import RetryPolicy, RetryState, Transport
from coveo_ua_source.exceptions import (
    CoveoAPIError,
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoNotFoundError,
    CoveoRetryExhaustedError,
)

VIEW_TOKEN = "sim-view-token"
START, END = utc(2024, 3, 1), utc(2024, 3, 1, 6)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(token=TOKEN, view_only_token=VIEW_TOKEN)) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh(sim: Simulator) -> Iterator[None]:
    sim.clear_faults()
    sim.clear_requests()
    yield
    sim.clear_faults()


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def make_client(sim: Simulator, waits: list[float]) -> Callable[..., CoveoClient]:
    def make(token: str = TOKEN, *, random: float = 0.5, **kwargs: Any) -> CoveoClient:
        kwargs.setdefault("base_url", sim.api_root)
        return CoveoClient(token, sleep=waits.append, random=lambda: random, **kwargs)

    return make


@pytest.fixture
def client(make_client: Callable[..., CoveoClient]) -> CoveoClient:
    return make_client()


def _api(sim: Simulator, path_end: str = "") -> list[RequestRecord]:
    return [r for r in sim.requests if r.server == "api" and r.path.endswith(path_end)]


def _storage(sim: Simulator) -> list[RequestRecord]:
    return [r for r in sim.requests if r.server == "storage"]


def _ready_export(client: CoveoClient, **kwargs: Any) -> ExportInfo:
    info = client.create_export(START, END, **kwargs)
    while info.status == "PENDING":
        info = client.get_export(info.id)
    assert info.status == "AVAILABLE"
    return info


# --- retried -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "random", [pytest.param(0.0, id="no-jitter"), pytest.param(0.999, id="max-jitter")]
)
def test_429_retry_after_is_honoured_with_bounded_jitter(
    sim: Simulator, make_client: Callable[..., CoveoClient], waits: list[float], random: float
) -> None:
    sim.inject("429", count=2, retry_after=3, path=r"/v15/exports$", method="POST")
    info = make_client(random=random).create_export(START, END, tables=["searches"])
    assert info.status == "PENDING"
    assert [r.status for r in _api(sim, "/v15/exports")] == [429, 429, 201]
    assert waits == pytest.approx([3 + random] * 2)  # Retry-After + up to HTTP_BACKOFF_BASE
    assert all(3 <= wait < 4 for wait in waits)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        pytest.param("500", {}, id="500"),
        pytest.param("502", {}, id="502"),
        pytest.param("503", {}, id="503-json"),
        pytest.param("503", {"body": "empty"}, id="503-empty"),
    ],
)
def test_server_errors_are_retried_with_exponential_backoff(
    sim: Simulator, client: CoveoClient, waits: list[float], kind: str, options: dict[str, str]
) -> None:
    sim.inject(kind, count=3, path="rowLimit", **options)
    assert client.row_limit() == sim.config.row_limit
    assert [r.status for r in _api(sim)] == [int(kind)] * 3 + [200]
    assert waits == pytest.approx([0.75, 1.5, 3.0])  # base*2**n, jitter 0.5 -> 3/4 of it


@pytest.mark.parametrize("random", [pytest.param(0.0, id="low"), pytest.param(0.999, id="high")])
def test_backoff_jitter_bounds(
    sim: Simulator, make_client: Callable[..., CoveoClient], waits: list[float], random: float
) -> None:
    sim.inject("500", count=4, path="status")
    assert make_client(random=random).service_status() == "online"
    for attempt, wait in enumerate(waits):
        delay = 2.0**attempt
        assert delay / 2 <= wait <= delay


def test_connection_drop_is_retried(
    sim: Simulator, client: CoveoClient, waits: list[float]
) -> None:
    sim.inject("drop", count=1, path="status")
    assert client.service_status() == "online"
    assert [r.status for r in _api(sim)] == [None, 200]
    assert len(waits) == 1


def test_retries_exhausted_message(
    sim: Simulator, make_client: Callable[..., CoveoClient], waits: list[float]
) -> None:
    sim.inject("503", count=10, path="rowLimit")
    with pytest.raises(CoveoRetryExhaustedError) as caught:
        make_client(max_attempts=3).row_limit()
    records = _api(sim)
    assert len(records) == 3
    assert len(waits) == 2
    error = caught.value
    assert (error.status, error.path, error.request_id) == (
        503,
        "/v15/exports/rowLimit",
        records[-1].request_id,
    )
    message = str(error)
    assert message.startswith("HTTP 503 on GET /v15/exports/rowLimit")
    assert f"X-Request-ID {records[-1].request_id}" in message
    assert "Simulated HTTP 503" in message
    assert "gave up after 3 attempt(s)" in message


def test_retry_budget_bounds_total_sleep(
    sim: Simulator, make_client: Callable[..., CoveoClient], waits: list[float]
) -> None:
    sim.inject("500", count=100, path="status")
    with pytest.raises(CoveoRetryExhaustedError):
        make_client(max_attempts=100, retry_budget=5.0).service_status()
    assert sum(waits) == pytest.approx(5.0)  # the last wait is cut to what is left
    assert len(_api(sim)) == len(waits) + 1


def test_retry_after_beyond_the_budget_gives_up_at_once(
    sim: Simulator, make_client: Callable[..., CoveoClient], waits: list[float]
) -> None:
    sim.inject("429", count=5, retry_after=120, path="status")
    with pytest.raises(CoveoRetryExhaustedError, match="HTTP 429"):
        make_client(retry_budget=60.0).service_status()
    assert waits == []
    assert len(_api(sim)) == 1


# --- fatal at once -------------------------------------------------------------------


def _bad_filter(make: Callable[..., CoveoClient]) -> object:
    return make().estimate(START, END, filters=['country =~ "Can"'])


@pytest.mark.parametrize(
    ("call", "error", "status", "hint"),
    [
        pytest.param(_bad_filter, CoveoBadRequestError, 400, "fix the parameter", id="400"),
        pytest.param(
            lambda make: make("not-the-token").row_limit(),
            CoveoAuthError,
            401,
            "invalid or expired",
            id="401",
        ),
        pytest.param(
            lambda make: make(VIEW_TOKEN).create_export(START, END),
            CoveoAuthError,
            403,
            '"Analytics - Data exports - Edit"',
            id="403-privilege",
        ),
        pytest.param(
            lambda make: make().get_export("no-such-export"),
            CoveoNotFoundError,
            404,
            "export id is unknown",
            id="404",
        ),
        pytest.param(
            lambda make: make().download_export("no-such-export", Path("x.zip")),
            CoveoNotFoundError,
            404,
            "export id is unknown",
            id="404-download",
        ),
    ],
)
def test_client_errors_are_raised_at_once(
    sim: Simulator,
    make_client: Callable[..., CoveoClient],
    waits: list[float],
    *,
    call: Callable[[Callable[..., CoveoClient]], object],
    error: type[CoveoAPIError],
    status: int,
    hint: str,
) -> None:
    with pytest.raises(error) as caught:
        call(make_client)
    records = sim.requests
    assert len(records) == 1  # no retry
    assert waits == []
    assert caught.value.status == records[0].status == status
    assert hint in str(caught.value)
    assert f"X-Request-ID {records[0].request_id}" in str(caught.value)
    assert not Path("x.zip").exists()


def test_waf_html_403_is_an_auth_error_with_a_text_excerpt(
    sim: Simulator, client: CoveoClient
) -> None:
    sim.inject("html", count=1, path="status")
    with pytest.raises(CoveoAuthError) as caught:
        client.service_status()
    excerpt = caught.value.service_message
    assert excerpt == "403 Forbidden Request blocked by the web application firewall."
    assert "<" not in str(caught.value)
    assert len(excerpt) <= 200
    assert "firewall or proxy" in str(caught.value)
    assert len(sim.requests) == 1


def test_long_html_excerpt_is_cut_to_200_characters() -> None:
    from coveo_ua_source.api.errors import error_text

    page = b"<html><head><title>t</title><style>p{}</style></head><body><p>" + b"blocked " * 100
    excerpt = error_text(page + b"</p></body></html>", "text/html")
    assert len(excerpt) == 200
    assert excerpt.startswith("blocked blocked")
    assert "<" not in excerpt


# --- downloads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        pytest.param("truncate", {}, id="truncated-body"),
        pytest.param("drop", {}, id="storage-drop"),
        pytest.param("503", {}, id="storage-503"),
    ],
)
def test_broken_download_is_retried_with_a_fresh_redirect(
    sim: Simulator,
    client: CoveoClient,
    waits: list[float],
    tmp_path: Path,
    *,
    kind: str,
    options: dict[str, Any],
) -> None:
    info = _ready_export(client, tables=["searches", "clicks", "custom_events"])
    sim.clear_requests()
    sim.inject(kind, count=1, server="storage", **options)
    progress: list[tuple[int, int | None]] = []
    target = tmp_path / "export.zip"
    size = client.download_export(info.id, target, on_progress=lambda *p: progress.append(p))
    assert size == target.stat().st_size == sim.exports[info.id].size
    assert progress[-1] == (size, size)
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
    assert [r.status for r in _api(sim)] == [303, 303]  # one redirect per attempt
    assert len(_storage(sim)) == 2
    assert len(waits) == 1


def test_download_gives_up_and_removes_the_partial_file(
    sim: Simulator, make_client: Callable[..., CoveoClient], tmp_path: Path
) -> None:
    client = make_client(max_attempts=2)
    info = _ready_export(client, tables=["searches"])
    sim.inject("truncate", count=5, server="storage")
    target = tmp_path / "export.zip"
    with pytest.raises(CoveoRetryExhaustedError) as caught:
        client.download_export(info.id, target)
    assert not target.exists()
    message = str(caught.value)
    assert "HTTP 200 on GET http://127.0.0.2:" in message
    assert "bytes" in message
    assert "sig=" not in message  # the pre-signed query never reaches a message


def test_expired_export_download_is_not_found(
    sim: Simulator, client: CoveoClient, waits: list[float], tmp_path: Path
) -> None:
    sim.inject("expire", count=1)
    info = _ready_export(client, tables=["groups"])
    target = tmp_path / "export.zip"
    with pytest.raises(CoveoNotFoundError, match="EXPIRED"):
        client.download_export(info.id, target)
    assert waits == []
    assert not target.exists()


def test_storage_never_receives_authorization(
    sim: Simulator, make_client: Callable[..., CoveoClient], tmp_path: Path
) -> None:
    """Not even an Authorization header set on the caller's own session."""
    session = requests.Session()
    session.headers["Authorization"] = "Bearer session-default"
    client = make_client(session=session)
    info = _ready_export(client, tables=["keywords"])
    client.download_export(info.id, tmp_path / "export.zip")
    storage = _storage(sim)
    assert storage
    assert not any(record.had_authorization for record in storage)
    assert all(record.had_authorization for record in _api(sim))


def test_org_param_is_sent_on_every_api_call(
    start_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    org_sim = start_simulator(org_id="acme")
    client = CoveoClient(TOKEN, org_id="acme", base_url=org_sim.api_root, sleep=lambda _: None)
    client.service_status()
    client.row_limit()
    client.exportable_dimensions()
    client.estimate(START, END)
    info = _ready_export(client, tables=["groups"])
    client.download_link(info.id)
    client.download_export(info.id, tmp_path / "export.zip")
    client.list_exports()
    client.delete_export(info.id)
    api = [r for r in org_sim.requests if r.server == "api"]
    assert len(api) >= 10
    assert all(r.query.get("org") == ["acme"] for r in api)
    assert all(r.status is not None and r.status < 400 for r in org_sim.requests)
    assert all("org" not in r.query for r in org_sim.requests if r.server == "storage")
    with pytest.raises(CoveoAuthError, match="check org_id"):
        CoveoClient(TOKEN, base_url=org_sim.api_root).row_limit()


def test_token_never_in_messages_or_logs(
    sim: Simulator,
    make_client: Callable[..., CoveoClient],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-token-42"
    errors: list[Exception] = []
    sim.inject("503", count=10, path="rowLimit")
    sim.inject("truncate", count=10, server="storage")
    client = make_client(max_attempts=2)
    info = _ready_export(client, tables=["groups"])
    calls: list[Callable[[], object]] = [
        lambda: make_client(wrong).service_status(),
        client.row_limit,
        lambda: client.estimate(START, END, filters=["nonsense"]),
        lambda: client.download_export(info.id, tmp_path / "export.zip"),
        lambda: make_client(VIEW_TOKEN).delete_export(info.id),
    ]
    for call in calls:
        with pytest.raises(CoveoAPIError) as caught:
            call()
        errors.append(caught.value)
    assert "coveo_ua_source.api.transport" in {record.name for record in caplog.records}
    texts = [caplog.text, repr(client), repr(make_client(wrong))]
    texts += [f"{e} {e!r} {e.args} {vars(e)}" for e in errors]
    for secret in (TOKEN, wrong, VIEW_TOKEN):
        assert not any(secret in text for text in texts), secret


def test_a_token_echoed_by_the_service_is_redacted() -> None:
    policy = RetryPolicy(1, 0.0, lambda _: None, lambda: 0.0)
    transport = Transport(requests.Session(), policy, 1.0, TOKEN, "ua")
    response = requests.Response()
    response.status_code = 401
    body = b'{"message": "token sim-token is not valid"}'
    failure = transport.failure(response, body)
    assert TOKEN not in failure.message
    assert "[token]" in failure.message


# --- pure policy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        pytest.param("7", None, 7.0, id="seconds"),
        pytest.param("-3", None, 0.0, id="negative"),
        pytest.param(
            "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:27:30 GMT", 30.0, id="http-date"
        ),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", None, 0.0, id="http-date-past"),
        pytest.param("soon", None, None, id="garbage"),
        pytest.param(None, None, None, id="absent"),
    ],
)
def test_parse_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, date) == expected


def test_backoff_is_capped() -> None:
    state = RetryState(RetryPolicy(20, 10_000.0, lambda _: None, lambda: 1.0))
    for _ in range(12):
        wait = state.next_wait()
        assert wait is not None
        state.wait(wait)
    assert wait == 60.0  # HTTP_BACKOFF_MAX
