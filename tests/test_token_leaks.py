"""The access token never appears in an error, a log line at any level, or dlt's trace.

Every simulator fault kind is injected in turn, plus a proxy page that echoes the request's
headers (the token among them) and a token containing CR/LF. After each run the test
searches the text and formatted traceback of every exception in the chain, every captured
log record (DEBUG, all loggers, urllib3 included), ``pipeline.last_trace`` (str and pickle)
and every file the run left in its directory.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import TOKEN, make_source

from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.cli.main import main
from coveo_ua_source.exceptions import ConfigurationError, CoveoUAError
from coveo_ua_source.simulator import Simulator
from coveo_ua_source.simulator.faults import FAULT_KINDS

# Options that make each fault bite (or end) quickly; HTTP faults outlast every retry.
FAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "429": {"count": 20, "retry_after": 0},
    "slow": {"seconds": 0.03},
    "row_limit": {"count": 3},
    "throttle": {"seconds": 0.05},
    "bad_redirect": {"scheme": "ftp"},
    "rewrite": {"change": "duplicate_header"},
    "malformed": {"count": 2},
    "fail": {"count": 4},
}
QUICK_DOWNLOADS = {"download_min_bytes": 1000, "download_stall_seconds": 0.5}
# A dripping host is a stall by design: find it sooner (it is watched twice, 2 attempts).
QUICK_STALLS = {**QUICK_DOWNLOADS, "download_stall_seconds": 0.2}


@pytest.fixture
def simulator(module_simulator: Simulator) -> Iterator[Simulator]:
    """One simulator for the module (starting and stopping one costs ~0.2 s of waiting):
    each test starts with no fault queued and no request recorded. Pipeline names differ
    per test, so no run reattaches to or cleans up another test's exports."""
    module_simulator.clear_faults()
    module_simulator.clear_requests()
    yield module_simulator
    module_simulator.clear_faults()


@pytest.fixture(autouse=True)
def _no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The source builds its own client: make its retries wait for nothing."""
    defaults = dict(CoveoClient.__init__.__kwdefaults__ or {})
    defaults["sleep"] = lambda _seconds: None
    monkeypatch.setattr(CoveoClient.__init__, "__kwdefaults__", defaults)


def _exception_texts(error: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(error))]
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return texts


def assert_no_token(
    texts: list[str], caplog: pytest.LogCaptureFixture, roots: list[Path], token: str
) -> None:
    for text in texts:
        assert token not in text, text[:2000]
    for record in caplog.records:
        assert token not in record.getMessage(), record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            assert all(token not in t for t in _exception_texts(record.exc_info[1]))
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path


def _run(pipeline: Pipeline, source: Any) -> list[str]:
    """Run; the texts to search: any exception's, and the trace's."""
    texts: list[str] = []
    try:
        pipeline.run(source)
    except Exception as error:  # every kind of failure is searched, that is the point
        texts += _exception_texts(error)
    trace = pipeline.last_trace
    if trace is not None:
        texts += [str(trace), repr(trace), pickle.dumps(trace).decode("latin-1")]
    return texts


@pytest.mark.parametrize("kind", [*FAULT_KINDS, "none"])
def test_no_fault_leaks_the_token(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    kind: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    if kind != "none":
        options = {"count": 1, **FAULT_OPTIONS.get(kind, {})}
        if kind in ("500", "502", "503", "drop", "truncate", "corrupt_zip", "drip"):
            options["count"] = 20
        simulator.inject(kind, **options)
    pipeline = make_pipeline(f"leak_{kind}")
    downloads = QUICK_STALLS if kind == "drip" else QUICK_DOWNLOADS
    texts = _run(pipeline, make_source(simulator, max_wait=30, **downloads))
    assert_no_token(texts, caplog, [tmp_path], TOKEN)


def test_a_proxy_page_echoing_the_token_is_quoted_redacted(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator.inject("echo", server="api", path="estimate")
    texts = _run(make_pipeline("leak_echo_page"), make_source(simulator))
    joined = "\n".join(texts)
    assert "not JSON" in joined
    assert "Authorization: Bearer [token]" in joined, "the page is quoted, the token redacted"
    assert_no_token(texts, caplog, [tmp_path], TOKEN)


@pytest.mark.parametrize(
    "bad_token",
    [
        pytest.param(TOKEN + "\r\nX-Injected: yes", id="crlf"),
        pytest.param("sim token", id="space"),
        pytest.param("sim\ttoken\x00", id="control"),
    ],
)
def test_a_token_with_whitespace_or_control_characters_is_refused_unechoed(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    bad_token: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigurationError, match="copy the API key or OAuth token again") as raised:
        make_source(simulator, access_token=bad_token)
    with pytest.raises(ConfigurationError) as direct:
        CoveoClient(bad_token, base_url=simulator.api_root)
    texts = _exception_texts(raised.value) + _exception_texts(direct.value)
    secrets = [bad_token, *([TOKEN, "X-Injected"] if bad_token.startswith(TOKEN) else [])]
    for secret in secrets:
        assert_no_token(texts, caplog, [tmp_path], secret)
    assert simulator.requests == [], "refused before any request"


def test_surrounding_whitespace_is_trimmed_not_refused(simulator: Simulator) -> None:
    client = CoveoClient(f"  {TOKEN}\n", base_url=simulator.api_root)
    assert client.service_status() == "online"


def test_a_non_json_export_object_is_redacted_too(simulator: Simulator) -> None:
    simulator.inject("echo", server="api", path="rowLimit")
    client = CoveoClient(TOKEN, base_url=simulator.api_root)
    with pytest.raises(CoveoUAError) as raised:
        client.row_limit()
    assert "[token]" in str(raised.value)
    assert TOKEN not in "".join(_exception_texts(raised.value))


@pytest.mark.parametrize(
    ("token", "fault", "message"),
    [
        pytest.param(TOKEN, {"kind": "echo", "path": "estimate"}, "not JSON", id="echo-page"),
        pytest.param(
            TOKEN, {"kind": "bad_redirect", "path": "rowLimit", "scheme": "file"},
            "InvalidSchema", id="file-redirect",
        ),
        pytest.param(TOKEN + "\r\nX-Injected: yes", None, "line break", id="crlf-token"),
    ],
)  # fmt: skip
def test_the_cli_fails_with_one_line_and_without_the_token(
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    token: str,
    fault: dict[str, Any] | None,
    message: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", token)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "cli.duckdb"))
    if fault is not None:
        simulator.inject(fault.pop("kind"), server="api", **fault)
    arguments = ["--base-url", simulator.api_root, "--start-date", "2024-03-01"]
    code = main(["load", *arguments, "--end-date", "2024-03-02", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1, captured
    assert message in captured.err
    for secret in (token, TOKEN):
        assert_no_token([captured.out, captured.err], caplog, [tmp_path], secret)
