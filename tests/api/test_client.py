"""Every endpoint of CoveoClient, replayed from cassettes recorded against the simulator.

Replay (the default, record mode "none") starts no simulator and never touches the network:
each cassette test is marked ``block_network``. Cassettes match on method, path and query,
not host or port, so the simulator's random ports do not matter. To re-record them all from
a fresh simulator (the Authorization header is filtered out of what is written)::

    COVEO_UA_RECORD=1 .venv/bin/pytest tests/test_client.py --record-mode=rewrite

then run the suite again without those options: ``test_cassettes_hold_no_token`` reads
every file under ``cassettes/`` and fails if a token or ``Bearer`` appears in one.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from helpers import TOKEN, utc

from coveo_ua_source.api.client import CoveoClient, ExportInfo
from coveo_ua_source.exceptions import (
    ConfigurationError,
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoNotFoundError,
)
from coveo_ua_source.settings import REGION_ROOTS

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
RECORDING = os.environ.get("COVEO_UA_RECORD") == "1"
REPLAY_ROOT = "http://127.0.0.1:9/rest/ua"  # never contacted: replay answers first
WRONG_TOKEN = "wrong-token-123"
START, END = utc(2024, 3, 1), utc(2024, 3, 1, 6)
# Tests whose cassette must exist; checked by test_cassettes_hold_no_token.
REPLAYED = [
    "test_service_status", "test_row_limit", "test_exportable_dimensions", "test_estimate",
    "test_create_export_query_string", "test_get_export", "test_download_export",
    "test_download_link", "test_delete_export", "test_list_exports", "test_bad_request_400",
    "test_unauthorized_401",
]  # fmt: skip


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES / "test_client")


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, object]:
    return {
        "filter_headers": ["authorization"],
        "match_on": ["method", "path", "query"],  # not host/port: the simulator's are random
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def api_root(record_mode: str) -> Iterator[str]:
    """The simulator's API root while recording; an unused address on replay."""
    if not RECORDING:
        yield REPLAY_ROOT
        return
    if record_mode == "none":
        pytest.fail("COVEO_UA_RECORD=1 needs --record-mode=rewrite (or once/all)")
    from coveo_ua_simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(token=TOKEN, pending_polls=1)) as simulator:
        yield simulator.api_root


@pytest.fixture
def sent() -> list[requests.PreparedRequest]:
    """Every request the client really sent (filled by a response hook)."""
    return []


@pytest.fixture
def client(api_root: str, sent: list[requests.PreparedRequest]) -> CoveoClient:
    return _client(api_root, sent, TOKEN)


def _client(api_root: str, sent: list[requests.PreparedRequest], token: str) -> CoveoClient:
    session = requests.Session()
    session.hooks["response"].append(lambda response, **_: sent.append(response.request))
    return CoveoClient(token, base_url=api_root, session=session, sleep=lambda _: None)


def _ready(client: CoveoClient, info: ExportInfo) -> ExportInfo:
    for _ in range(10):
        if info.status != "PENDING":
            return info
        info = client.get_export(info.id)
    raise AssertionError(f"export {info.id} still PENDING")


def _query(request: requests.PreparedRequest) -> str:
    return urlsplit(str(request.url)).query


@pytest.mark.vcr
@pytest.mark.block_network
def test_service_status(client: CoveoClient) -> None:
    assert client.service_status() == "online"


@pytest.mark.vcr
@pytest.mark.block_network
def test_row_limit(client: CoveoClient, sent: list[requests.PreparedRequest]) -> None:
    assert client.row_limit() == 1_000_000
    assert urlsplit(str(sent[0].url)).path.endswith("/rest/ua/v15/exports/rowLimit")


@pytest.mark.vcr
@pytest.mark.block_network
def test_exportable_dimensions(client: CoveoClient) -> None:
    dimensions = client.exportable_dimensions()
    assert {"displayName", "returnName", "type"} <= set(dimensions[0])
    assert "searches.searchid" in {d["returnName"] for d in dimensions}


@pytest.mark.vcr
@pytest.mark.block_network
def test_estimate(client: CoveoClient, sent: list[requests.PreparedRequest]) -> None:
    estimates = client.estimate(
        START, END, tables=["searches", "clicks"], search_filters=['country=="Canada"']
    )
    assert set(estimates) == {"searches", "clicks"}  # SEARCHES... mapped back to TTable
    assert all(isinstance(count, int) and count >= 0 for count in estimates.values())
    assert _query(sent[0]) == (
        "from=2024-03-01T00%3A00%3A00.000Z&to=2024-03-01T05%3A59%3A59.999Z"
        "&tables=SEARCHES&tables=CLICKS&fs=country%3D%3D%22Canada%22"
    )


@pytest.mark.vcr
@pytest.mark.block_network
def test_create_export_query_string(
    client: CoveoClient, sent: list[requests.PreparedRequest]
) -> None:
    end = END + timedelta(milliseconds=250)
    info = client.create_export(
        START, end,
        tables=["searches", "clicks"],
        dimensions=["searches.searchid", "country"],
        filters=['country=="Canada"', "mobile==false"],
        search_filters=['searchCause=="searchboxSubmit"'],
        custom_event_filters=['eventType=="cart"'],
        export_format="NO_NEWLINE",
        use_display_names=True,
        description="march 1st",
        filename="march.zip",
    )  # fmt: skip
    request = sent[0]
    assert request.method == "POST"
    assert urlsplit(str(request.url)).path.endswith("/rest/ua/v15/exports")
    assert not request.body
    assert _query(request) == (
        "from=2024-03-01T00%3A00%3A00.000Z&to=2024-03-01T06%3A00%3A00.249Z"
        "&tables=SEARCHES&tables=CLICKS"
        "&f=country%3D%3D%22Canada%22&f=mobile%3D%3Dfalse"
        "&fs=searchCause%3D%3D%22searchboxSubmit%22&fc=eventType%3D%3D%22cart%22"
        "&dimensions=searches.searchid&dimensions=country"
        "&format=NO_NEWLINE&useDisplayNames=true&d=march+1st&filename=march.zip"
    )
    assert parse_qsl(_query(request))[1] == ("to", "2024-03-01T06:00:00.249Z")  # end - 1 ms
    assert (info.status, info.start, info.end) == ("PENDING", START, end)
    assert info.tables == ("searches", "clicks")
    assert info.description == "march 1st"
    assert info.download_link is None


@pytest.mark.vcr
@pytest.mark.block_network
def test_get_export(client: CoveoClient) -> None:
    created = client.create_export(START, END, tables=["keywords"])
    pending = client.get_export(created.id)
    ready = client.get_export(created.id)
    assert (pending.id, pending.status) == (created.id, "PENDING")
    assert ready.status == "AVAILABLE"
    assert ready.start == START
    assert ready.end == END
    assert ready.start.tzinfo is UTC
    assert ready.size is not None  # the simulator reports 0 until the zip is first built
    assert ready.download_link is not None
    assert ready.download_link.startswith("http://")
    assert ready.raw["id"] == created.id


@pytest.mark.vcr
@pytest.mark.block_network
def test_download_export(
    client: CoveoClient, sent: list[requests.PreparedRequest], tmp_path: Path
) -> None:
    info = _ready(client, client.create_export(START, END, tables=["searches", "clicks"]))
    progress: list[tuple[int, int | None]] = []
    target = tmp_path / "export.zip"
    size = client.download_export(info.id, target, on_progress=lambda *p: progress.append(p))
    assert size == target.stat().st_size > 0
    assert progress[-1] == (size, size)
    with zipfile.ZipFile(target) as archive:
        assert {"searches.csv", "clicks.csv"} <= set(archive.namelist())
    redirect, storage = sent[-2:]
    assert _query(redirect) == "redirect=true"
    assert redirect.headers["Authorization"] == f"Bearer {TOKEN}"
    assert urlsplit(str(storage.url)).hostname == "127.0.0.2"
    assert "Authorization" not in storage.headers
    assert "org" not in dict(parse_qsl(_query(storage)))


@pytest.mark.vcr
@pytest.mark.block_network
def test_download_link(client: CoveoClient) -> None:
    info = client.create_export(START, END, tables=["groups"])
    assert client.download_link(info.id) is None  # still PENDING at the first read
    link = client.download_link(info.id)
    assert link is not None
    assert link.startswith("http://127.0.0.2:")


@pytest.mark.vcr
@pytest.mark.block_network
def test_delete_export(client: CoveoClient, sent: list[requests.PreparedRequest]) -> None:
    info = client.create_export(START, END, tables=["groups"])
    client.delete_export(info.id)
    assert sent[-1].method == "DELETE"
    with pytest.raises(CoveoNotFoundError):
        client.get_export(info.id)


@pytest.mark.vcr
@pytest.mark.block_network
def test_list_exports(client: CoveoClient) -> None:
    info = client.create_export(START, END, tables=["groups"], description="listed")
    listed = {export.id: export for export in client.list_exports()}
    assert listed[info.id].description == "listed"
    assert all(isinstance(export, ExportInfo) for export in listed.values())


@pytest.mark.vcr
@pytest.mark.block_network
def test_bad_request_400(client: CoveoClient) -> None:
    with pytest.raises(CoveoBadRequestError) as caught:
        client.estimate(START, END, filters=['country =~ "Can"'])
    error = caught.value
    assert (error.status, error.method, error.path) == (400, "GET", "/v15/exports/estimate")
    assert "Unsupported operator" in error.service_message
    assert "fix the parameter" in str(error)
    assert error.request_id
    assert error.request_id in str(error)
    assert "from=" not in str(error)  # the path, never the query string


@pytest.mark.vcr
@pytest.mark.block_network
def test_unauthorized_401(api_root: str, sent: list[requests.PreparedRequest]) -> None:
    client = _client(api_root, sent, WRONG_TOKEN)
    with pytest.raises(CoveoAuthError) as caught:
        client.row_limit()
    assert caught.value.status == 401
    assert "invalid or expired" in str(caught.value)
    assert WRONG_TOKEN not in str(caught.value)
    assert len(sent) == 1  # not retried


def test_cassettes_hold_no_token() -> None:
    """No cassette file contains a token or a Bearer header: read every file in cassettes/."""
    files = [path for path in CASSETTES.rglob("*") if path.is_file()]
    recorded = {path.stem for path in (CASSETTES / "test_client").glob("*.yaml")}
    assert set(REPLAYED) <= recorded, f"missing cassettes: {set(REPLAYED) - recorded}"
    for path in files:
        data = path.read_bytes()
        for secret in (TOKEN, WRONG_TOKEN, "Bearer"):
            assert secret.encode() not in data, f"{secret!r} found in {path}"


# --- no network: arguments, configuration and parsing ------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, REGION_ROOTS["us"], id="default-us"),
        pytest.param({"region": "EU"}, REGION_ROOTS["eu"], id="region-eu"),
        pytest.param(
            {"base_url": "https://x.example/rest/ua/"},
            "https://x.example/rest/ua",
            id="base-url-trailing-slash",
        ),
    ],
)
def test_api_root(kwargs: dict[str, str], expected: str) -> None:
    assert CoveoClient(TOKEN, **kwargs).api_root == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"region": "mars"}, "us, eu, au, ca, hipaa", id="unknown-region"),
        pytest.param({"base_url": "https://x.example/api"}, "/rest/ua", id="base-url-path"),
        pytest.param({"base_url": "/rest/ua"}, "absolute", id="base-url-relative"),
        pytest.param({"max_attempts": 0}, "max_attempts", id="no-attempts"),
    ],
)
def test_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CoveoClient(TOKEN, **kwargs)  # type: ignore[arg-type]


def test_empty_token_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="access_token"):
        CoveoClient("  ")


def test_repr_hides_the_token() -> None:
    client = CoveoClient(TOKEN, org_id="acme")
    assert TOKEN not in repr(client)
    assert TOKEN not in repr(vars(client)["_transport"])
    assert "acme" in repr(client)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda c: c.create_export(START.replace(tzinfo=None), END),
            "timezone-aware",
            id="naive-start",
        ),
        pytest.param(lambda c: c.create_export(END, START), "empty window", id="reversed"),
        pytest.param(
            lambda c: c.create_export(START, END, tables=["views"]),
            "unknown table",
            id="unknown-table",
        ),
        pytest.param(
            lambda c: c.create_export(START, END, tables=[]), "tables is empty", id="no-tables"
        ),
        pytest.param(
            lambda c: c.create_export(START, END, filename="été.zip"),
            "US-ASCII",
            id="non-ascii-filename",
        ),
        pytest.param(lambda c: c.get_export(""), "export_id", id="empty-id"),
    ],
)
def test_argument_errors_send_nothing(call: object, message: str) -> None:
    client = CoveoClient(TOKEN, base_url=REPLAY_ROOT)
    with pytest.raises(ConfigurationError, match=message):
        call(client)  # type: ignore[operator]


def test_window_in_another_zone_and_sub_millisecond_ends() -> None:
    """``[start, end)`` is converted to UTC; a sub-ms end still excludes ``end`` itself."""
    from coveo_ua_source.api.models import window_params as _window_params

    plus2 = timezone(timedelta(hours=2))
    start = datetime(2024, 3, 1, 2, tzinfo=plus2)
    end = datetime(2024, 3, 1, 8, 0, 0, 500, tzinfo=plus2)  # 0.5 ms past 06:00Z
    params = dict(_window_params(start, end, None, {}))
    assert params == {"from": "2024-03-01T00:00:00.000Z", "to": "2024-03-01T06:00:00.000Z"}


def test_export_info_from_api() -> None:
    info = ExportInfo.from_api({
        "id": "e1", "status": "available", "from": 1709251200000, "to": 1709272799999,
        "tables": ["SEARCHES", "CUSTOM_EVENTS"], "size": "12", "downloadLink": "http://s/x",
    })  # fmt: skip
    assert info.status == "AVAILABLE"
    assert (info.start, info.end) == (START, END)
    assert info.tables == ("searches", "custom_events")
    assert (info.size, info.description) == (12, None)
    assert "http://s/x" not in repr(info)  # pre-signed links stay out of logs
    with pytest.raises(ValueError, match="unknown export status"):
        ExportInfo.from_api({"id": "e1", "status": "DONE"})
