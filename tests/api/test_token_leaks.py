"""The access token never appears in an error, a log line at any level, or dlt's trace.

Every simulator fault kind is injected: each fault that ends the run in a run of its own,
the faults the load recovers from together in one run (alone again to name a leak); plus
a proxy page that echoes the request's headers (the token among them) and a token
containing CR/LF. After each run the test searches the text and formatted traceback of
every exception in the chain, every captured log record (DEBUG, all loggers, urllib3
included), ``pipeline.last_trace`` (str and pickle) and every file the run left in its
directory.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.pipeline import Pipeline
from helpers import START, TOKEN, make_source
from helpers.pipelines import pipelines_in

from coveo_ua_simulator import Simulator
from coveo_ua_simulator.faults import FAULT_KINDS, TFaultKind
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.cli.main import main
from coveo_ua_source.exceptions import ConfigurationError, CoveoUAError

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
    "wide": {"count": 4},
    "fail_window": {"count": 200, "start": "2024-03-01", "end": "2024-03-02"},
}
# Faults that the load gets over (it retries, splits, recreates, waits or rejects rows).
RECOVERED_FAULTS: tuple[TFaultKind, ...] = (
    "redirect_loop", "fail", "expire", "slow", "row_limit", "throttle", "malformed",
    "same_export", "wide",
)  # fmt: skip
QUICK_DOWNLOADS = {"download_min_bytes": 1000, "download_stall_seconds": 0.5}
# A dripping host is a stall by design: find it sooner (it is watched twice, 2 attempts).
QUICK_STALLS = {**QUICK_DOWNLOADS, "download_stall_seconds": 0.2}


@pytest.fixture
def simulator(module_simulator: Simulator) -> Iterator[Simulator]:
    """One simulator for the module (starting and stopping one means waiting):
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


def token_findings(
    texts: list[str], caplog: pytest.LogCaptureFixture, roots: list[Path], token: str
) -> list[str]:
    """Where ``token`` appears: in a text, a captured log record or a file under ``roots``."""
    found = [f"text: {text[:2000]}" for text in texts if token in text]
    for record in caplog.records:
        error = record.exc_info[1] if record.exc_info else None
        record_texts = [record.getMessage(), *(_exception_texts(error) if error else [])]
        found += [f"log record: {text[:2000]}" for text in record_texts if token in text]
    for root in roots:
        files = (path for path in root.rglob("*") if path.is_file())
        found += [f"file: {path}" for path in files if token.encode() in path.read_bytes()]
    return found


def assert_no_token(
    texts: list[str], caplog: pytest.LogCaptureFixture, roots: list[Path], token: str
) -> None:
    findings = token_findings(texts, caplog, roots, token)
    assert not findings, "\n".join(findings)


def _run(pipeline: Pipeline, source: Any) -> tuple[list[str], Exception | None]:
    """Run; the texts to search (any exception's, and the trace's) and the exception."""
    texts: list[str] = []
    failure: Exception | None = None
    try:
        pipeline.run(source)
    except Exception as error:  # every kind of failure is searched, that is the point
        texts += _exception_texts(error)
        failure = error
    trace = pipeline.last_trace
    if trace is not None:
        texts += [str(trace), repr(trace), pickle.dumps(trace).decode("latin-1")]
    return texts, failure


# Faults that end the run, each met by its first export request or download: one table and
# one day (one export) meet them as five tables and two days do.
ENDING_FAULTS = tuple(kind for kind in FAULT_KINDS if kind not in RECOVERED_FAULTS)
ONE_EXPORT = {"tables": ["searches"], "end_date": START + timedelta(days=1)}


def inject_fault(simulator: Simulator, kind: str) -> None:
    options = {"count": 1, **FAULT_OPTIONS.get(kind, {})}
    if kind in ("500", "502", "503", "drop", "truncate", "corrupt_zip", "drip"):
        options["count"] = 20  # outlast every retry
    simulator.inject(kind, **options)


def run_with_faults(
    simulator: Simulator, pipeline: Pipeline, kinds: tuple[str, ...], **scope: Any
) -> tuple[list[str], Exception | None]:
    """Run ``pipeline`` with ``kinds`` injected; the texts to search and the exception."""
    for kind in kinds:
        inject_fault(simulator, kind)
    downloads = QUICK_STALLS if "drip" in kinds else QUICK_DOWNLOADS
    return _run(pipeline, make_source(simulator, max_wait=30, **downloads, **scope))


@pytest.mark.parametrize("kind", ENDING_FAULTS)
def test_no_fault_that_ends_the_run_leaks_the_token(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    kind: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    pipeline = make_pipeline(f"leak_{kind}")
    texts, failure = run_with_faults(simulator, pipeline, (kind,), **ONE_EXPORT)
    assert failure is not None, f"the {kind} fault was meant to end the run"
    assert_no_token(texts, caplog, [tmp_path], TOKEN)


def test_no_fault_the_load_recovers_from_leaks_the_token(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """One run of every table and day meets all these faults (each is used up) and the
    plain path; if the token leaks, each fault is run again alone to say which leaked."""
    caplog.set_level(logging.DEBUG)
    pipeline = make_pipeline("leak_recovered")
    texts, failure = run_with_faults(simulator, pipeline, RECOVERED_FAULTS)
    assert failure is None, "the load was meant to recover from every fault"
    assert simulator.pending_faults() == [], "every fault was met"
    findings = token_findings(texts, caplog, [tmp_path], TOKEN)
    if findings:
        pytest.fail(which_recovered_fault_leaks(simulator, caplog, tmp_path, findings))


def which_recovered_fault_leaks(
    simulator: Simulator, caplog: pytest.LogCaptureFixture, tmp_path: Path, found: list[str]
) -> str:
    """Run each recovered fault alone, and no fault, and say where the token appeared."""
    report = ["the token leaked in a run with faults " + ", ".join(RECOVERED_FAULTS), *found]
    report.append("run alone:")
    for kind in ("none", *RECOVERED_FAULTS):
        caplog.clear()
        simulator.clear_faults()
        root = tmp_path / f"alone_{kind}"
        root.mkdir()
        pipeline = pipelines_in(root)(f"leak_{kind}")
        kinds = () if kind == "none" else (kind,)
        texts, _failure = run_with_faults(simulator, pipeline, kinds, **ONE_EXPORT)
        findings = token_findings(texts, caplog, [root], TOKEN)
        report += [f"{kind}: {finding}" for finding in findings]
    return "\n".join(report)


def test_a_proxy_page_echoing_the_token_is_quoted_redacted(
    simulator: Simulator,
    make_pipeline: Callable[..., Pipeline],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator.inject("echo", server="api", path="estimate")
    texts, failure = _run(make_pipeline("leak_echo_page"), make_source(simulator, **ONE_EXPORT))
    assert failure is not None
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
    ("token", "fault", "message", "exit_code"),
    [
        pytest.param(TOKEN, {"kind": "echo", "path": "estimate"}, "not JSON", 1, id="echo-page"),
        pytest.param(
            TOKEN, {"kind": "bad_redirect", "path": "rowLimit", "scheme": "file"},
            "InvalidSchema", 1, id="file-redirect",
        ),
        pytest.param(  # a malformed token is a setting to fix: a usage error
            TOKEN + "\r\nX-Injected: yes", None, "line break", 2, id="crlf-token"
        ),
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
    exit_code: int,
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
    assert code == exit_code, captured
    assert message in captured.err
    for secret in (token, TOKEN):
        assert_no_token([captured.out, captured.err], caplog, [tmp_path], secret)
