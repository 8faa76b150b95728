"""The status table and the message helpers of api/errors.py, and the storage timeouts."""

from __future__ import annotations

import pytest
import requests

from coveo_ua_source.api.download import DownloadLimits
from coveo_ua_source.api.errors import error_text, public_url, rule_for, scheme_and_host
from coveo_ua_source.api.storage import _expected_length, _read_timeout
from coveo_ua_source.api.transport import RetryPolicy, Transport
from coveo_ua_source.exceptions import (
    CoveoAPIError,
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoNotFoundError,
    CoveoRetryExhaustedError,
)


@pytest.mark.parametrize(
    ("status", "storage", "error", "retried", "hint"),
    [
        pytest.param(400, False, CoveoBadRequestError, False, "parameter", id="api-400"),
        pytest.param(401, False, CoveoAuthError, False, "token", id="api-401"),
        pytest.param(403, False, CoveoAuthError, False, "privilege", id="api-403"),
        pytest.param(404, False, CoveoNotFoundError, False, "export id", id="api-404"),
        pytest.param(429, False, CoveoRetryExhaustedError, True, "rate limiting", id="api-429"),
        pytest.param(503, False, CoveoRetryExhaustedError, True, "retry later", id="api-503"),
        pytest.param(None, False, CoveoRetryExhaustedError, True, "network", id="no-answer"),
        pytest.param(418, False, CoveoAPIError, False, "", id="api-other"),
        pytest.param(403, True, CoveoRetryExhaustedError, True, "pre-signed", id="storage-403"),
        pytest.param(410, True, CoveoNotFoundError, False, "EXPIRED", id="storage-410"),
        pytest.param(200, True, CoveoRetryExhaustedError, True, "kept breaking", id="broken"),
        pytest.param(500, True, CoveoRetryExhaustedError, True, "retry later", id="storage-500"),
    ],
)  # fmt: skip
def test_one_table_decides_error_retry_and_hint(
    status: int | None, storage: bool, error: type[CoveoAPIError], retried: bool, hint: str
) -> None:
    rule = rule_for(status, storage=storage)
    assert rule.error is error
    assert rule.retried is retried
    assert hint in rule.hint


def test_messages_show_no_signature_nor_credentials_of_a_url() -> None:
    url = "https://user:pw@bucket.example:8443/exports/x.zip?X-Amz-Signature=abc"
    assert public_url(url) == "https://bucket.example:8443/exports/x.zip"
    assert scheme_and_host("ftp://user:pw@host.example/a?b=c") == "ftp://host.example"


def test_json_error_bodies_give_message_and_code() -> None:
    body = b'{"message": "bad  filter", "errorCode": "INVALID_FILTER"}'
    assert error_text(body, "application/json") == "bad filter (errorCode INVALID_FILTER)"


def _transport(timeout: float | tuple[float, float], stall: float) -> Transport:
    policy = RetryPolicy(1, 0.0, lambda _seconds: None, lambda: 0.0)
    limits = DownloadLimits(stall_seconds=stall)
    return Transport(requests.Session(), policy, timeout, "token", "ua", limits)


@pytest.mark.parametrize(
    ("timeout", "stall", "expected"),
    [
        pytest.param(30.0, 10.0, (30.0, 10.0), id="read-cut-to-the-stall-period"),
        pytest.param((5.0, 8.0), 10.0, (5.0, 8.0), id="shorter-read-kept"),
    ],
)
def test_a_silent_storage_host_is_cut_by_the_stall_period(
    timeout: float | tuple[float, float], stall: float, expected: tuple[float, float]
) -> None:
    transport = _transport(timeout, stall)
    try:
        assert _read_timeout(transport) == expected
    finally:
        transport.session.close()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Content-Length": "120"}, 120, id="plain"),
        pytest.param({"Content-Length": "120", "Content-Encoding": "gzip"}, None, id="encoded"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_the_expected_length_counts_only_bytes_we_will_see(
    headers: dict[str, str], expected: int | None
) -> None:
    response = requests.Response()
    response.headers.update(headers)
    assert _expected_length(response) == expected
