"""Real-behaviour tests of the Coveo UA simulator: HTTP against a running Simulator."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import forked

import coveo_ua_simulator as simulator_package
from coveo_ua_simulator import (
    Simulator,
    SimulatorConfig,
    ground_truth,
    write_export_zip,
)
from coveo_ua_simulator.data import FIELDS, hour_columns
from coveo_ua_simulator.dimensions import custom_types, sim_columns, typed_value
from coveo_ua_simulator.faults import write_malformed_copy
from coveo_ua_simulator.truth import count_rows, to_ms
from coveo_ua_source.schema import (
    COLUMNS,
    IDENTIFIERS,
    TABLES,
    TTable,
    column_by_header,
    snake_case,
)

TOKEN = "sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DAY = datetime(2024, 3, 1, tzinfo=UTC)
NEXT_DAY = DAY + timedelta(days=1)
EXCEL_DIALECT: dict[str, Any] = {}
NO_NEWLINE_DIALECT: dict[str, Any] = {"escapechar": "\\", "doublequote": False}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def window(start: datetime = DAY, end: datetime = NEXT_DAY) -> dict[str, str]:
    """from/to query parameters of the half-open window [start, end)."""
    return {"from": iso(start), "to": iso(end - timedelta(milliseconds=1))}


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(pending_polls=1)) as running:
        yield running


@pytest.fixture
def sim(shared_sim: Simulator) -> Iterator[Simulator]:
    shared_sim.clear_faults()
    yield shared_sim
    shared_sim.clear_faults()


def create(sim: Simulator, **params: Any) -> requests.Response:
    query = {**window(), **params}
    return requests.post(f"{sim.api_root}/v15/exports", params=query, headers=AUTH, timeout=30)


def status_of(sim: Simulator, export_id: str) -> dict[str, Any]:
    url = f"{sim.api_root}/v15/exports/{export_id}"
    reply = requests.get(url, headers=AUTH, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def ready(sim: Simulator, **params: Any) -> str:
    """Create an export and poll it until AVAILABLE; returns its id."""
    reply = create(sim, **params)
    assert reply.status_code == 201, reply.text
    export_id: str = reply.json()["id"]
    for _ in range(20):
        if status_of(sim, export_id)["status"] == "AVAILABLE":
            return export_id
    raise AssertionError("the export never became AVAILABLE")


def download(sim: Simulator, export_id: str) -> bytes:
    url = f"{sim.api_root}/v15/exports/{export_id}"
    reply = requests.get(url, params={"redirect": "true"}, headers=AUTH, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.content


def members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def parse_csv(raw: bytes, dialect: dict[str, Any]) -> list[dict[str, str]]:
    text = raw.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline=""), **dialect))


def _value(kind: str, text: str) -> object:
    if text == "":
        return None
    if kind == "timestamp":
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    converters: dict[str, Any] = {"bigint": int, "double": float, "bool": lambda v: v == "true"}
    return converters.get(kind, str)(text)


def typed(table: TTable, rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """CSV rows -> what a correct connector loads (snake_case keys, typed values)."""
    lookup = {c.api_name.lower(): c for c in sim_columns(table)} | column_by_header(table)
    custom = {k: v for k, v in custom_types(table, None).items() if v != "TEXT"}

    def value(header: str, text: str) -> object:
        name = snake_case(lookup[header.lower()].api_name)
        if name in custom:
            return typed_value(text or None, custom[name])[0]
        return _value(lookup[header.lower()].type, text)

    out = [
        {snake_case(lookup[h.lower()].api_name): value(h, v) for h, v in row.items()}
        for row in rows
    ]
    keys = [snake_case(name) for name in IDENTIFIERS[table]]
    return sorted(out, key=lambda row: tuple(str(row[key]) for key in keys))


def stamp(row: dict[str, object]) -> datetime:
    value = row["datetime"]
    assert isinstance(value, datetime)
    return value


# --- package surface and data ----------------------------------------------------------


def test_all_lists_public_names_sorted() -> None:
    assert simulator_package.__all__ == sorted(simulator_package.__all__)
    for name in ("Simulator", "SimulatorConfig", "ground_truth", "write_export_zip"):
        assert name in simulator_package.__all__
        assert hasattr(simulator_package, name)


@pytest.mark.parametrize("table", TABLES)
def test_generated_fields_follow_the_catalog(table: TTable) -> None:
    assert FIELDS[table] == tuple(column.api_name for column in sim_columns(table))
    assert FIELDS[table][: len(COLUMNS[table])] == tuple(c.api_name for c in COLUMNS[table])


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first = ground_truth(SimulatorConfig(seed=3), "clicks", DAY, DAY + timedelta(hours=6))
    again = ground_truth(SimulatorConfig(seed=3), "clicks", DAY, DAY + timedelta(hours=6))
    other = ground_truth(SimulatorConfig(seed=4), "clicks", DAY, DAY + timedelta(hours=6))
    assert first == again
    assert first != other


def test_rows_depend_only_on_their_hour() -> None:
    cfg = SimulatorConfig()
    whole = ground_truth(cfg, "searches", DAY, NEXT_DAY)
    hours = [
        row
        for hour in range(24)
        for row in ground_truth(
            cfg, "searches", DAY + timedelta(hours=hour), DAY + timedelta(hours=hour + 1)
        )
    ]
    assert sorted(hours, key=lambda r: str(r["search_id"])) == whole
    counts = [
        len(ground_truth(cfg, "searches", DAY + timedelta(hours=h), DAY + timedelta(hours=h + 1)))
        for h in range(24 * 7)
    ]
    assert 0 in counts
    assert max(counts) > 12


def test_ground_truth_is_half_open() -> None:
    cfg = SimulatorConfig()
    rows = ground_truth(cfg, "searches", DAY, NEXT_DAY)
    moment = rows[len(rows) // 2]["datetime"]
    assert isinstance(moment, datetime)
    before = ground_truth(cfg, "searches", DAY, moment)
    after = ground_truth(cfg, "searches", moment, NEXT_DAY)
    assert all(stamp(row) < moment for row in before)
    assert any(row["datetime"] == moment for row in after)
    assert len(before) + len(after) == len(rows)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(DAY, NEXT_DAY, id="whole-hours"),
        pytest.param(
            DAY + timedelta(minutes=90, milliseconds=123),
            DAY + timedelta(hours=5, milliseconds=7),
            id="partial-hours",
        ),
    ],
)
def test_counts_match_ground_truth(start: datetime, end: datetime) -> None:
    cfg = SimulatorConfig(seed=11)
    span = (to_ms(start), to_ms(end))
    for table in TABLES:
        assert count_rows(cfg, table, span) == len(ground_truth(cfg, table, start, end)), table


def test_ground_truth_has_every_tricky_value_each_day() -> None:
    cfg = SimulatorConfig()
    texts = [
        value
        for table in TABLES
        for row in ground_truth(cfg, table, DAY, NEXT_DAY)
        for value in row.values()
        if isinstance(value, str)
    ]
    for needle in (",", '"', "\n", "\r\n", "\\", "é", "ß", "日本語", "🚀"):
        assert any(needle in text for text in texts), needle
    assert any(text != text.strip() for text in texts)
    searches = ground_truth(cfg, "searches", DAY, NEXT_DAY)
    assert any(row["query_expression"] is None for row in searches)
    assert any(row["number_of_results"] is None for row in searches)
    assert all(row["search_id"] and row["datetime"] for row in searches)


# --- authentication and privileges --------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong-token"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, id="wrong-scheme"),
    ],
)
def test_bad_token_answers_401(sim: Simulator, headers: dict[str, str]) -> None:
    reply = requests.get(f"{sim.api_root}/v15/exports", headers=headers, timeout=10)
    assert reply.status_code == 401
    assert reply.json() == {"message": "Invalid token", "type": "InvalidTokenException"}
    assert re.fullmatch(r"[0-9a-f-]{36}", reply.headers["X-Request-ID"])


def test_org_parameter_required_when_configured() -> None:
    with Simulator(SimulatorConfig(org_id="acme")) as sim:
        url = f"{sim.api_root}/v15/exports/rowLimit"
        assert requests.get(url, headers=AUTH, timeout=10).status_code == 403
        wrong = requests.get(url, params={"org": "other"}, headers=AUTH, timeout=10)
        assert wrong.status_code == 403
        assert "org" in wrong.json()["message"]
        assert requests.get(url, params={"org": "acme"}, headers=AUTH, timeout=10).ok


def test_view_only_token_may_read_but_not_write(sim: Simulator) -> None:
    viewer = {"Authorization": "Bearer sim-view-token"}
    assert requests.get(f"{sim.api_root}/v15/exports", headers=viewer, timeout=10).ok
    created = requests.post(
        f"{sim.api_root}/v15/exports", params=window(), headers=viewer, timeout=10
    )
    assert created.status_code == 403
    export_id = ready(sim)
    url = f"{sim.api_root}/v15/exports/{export_id}"
    assert requests.delete(url, headers=viewer, timeout=10).status_code == 403


def test_request_log_redacts_the_token(sim: Simulator) -> None:
    sim.clear_requests()
    requests.get(f"{sim.api_root}/v15/exports/status", headers=AUTH, timeout=10)
    (record,) = sim.requests
    assert record.had_authorization
    assert record.headers["Authorization"] == "<redacted>"
    assert TOKEN not in repr(sim.requests)


# --- export lifecycle ---------------------------------------------------------------------


def test_lifecycle_pending_then_available(sim: Simulator) -> None:
    reply = create(sim, d="nightly")
    assert reply.status_code == 201
    body = reply.json()
    assert body["status"] == "PENDING"
    assert "downloadLink" not in body
    assert body["from"] == int(DAY.timestamp() * 1000)
    assert body["to"] == int(NEXT_DAY.timestamp() * 1000) - 1
    assert body["description"] == "nightly"
    link_url = f"{sim.api_root}/v15/exports/{body['id']}/downloadlink"
    assert requests.get(link_url, headers=AUTH, timeout=10).json()["downloadLink"] is None
    done = status_of(sim, body["id"])
    assert done["status"] == "AVAILABLE"
    assert done["downloadable"]
    assert done["downloadLink"].startswith(sim.storage_root)
    export = sim.exports[body["id"]]
    assert export.polls == 2
    assert export.params["d"] == ["nightly"]
    assert (export.from_ms, export.to_ms) == (body["from"], body["to"])
    assert export.tables == TABLES


def test_stop_ends_kept_alive_connections() -> None:
    with requests.Session() as session:
        sim = Simulator().start()
        url = f"{sim.api_root}/v15/exports/status"
        assert session.get(url, headers=AUTH, timeout=10).ok
        sim.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, headers=AUTH, timeout=10)


def test_build_delay_holds_exports_pending() -> None:
    with Simulator(SimulatorConfig(pending_polls=0, build_delay=0.2)) as sim:
        export_id = create(sim).json()["id"]
        assert status_of(sim, export_id)["status"] == "PENDING"
        threading.Event().wait(0.25)
        assert status_of(sim, export_id)["status"] == "AVAILABLE"


def test_redirect_goes_to_the_storage_host(sim: Simulator) -> None:
    export_id = ready(sim)
    url = f"{sim.api_root}/v15/exports/{export_id}"
    reply = requests.get(
        url, params={"redirect": "true"}, headers=AUTH, allow_redirects=False, timeout=10
    )
    assert reply.status_code == 303
    assert reply.headers["Location"].startswith(f"{sim.storage_root}/exports/{export_id}.zip?sig=")
    assert sim.storage_root.startswith("http://127.0.0.2:")


def test_redirect_before_ready_is_an_error(sim: Simulator) -> None:
    export_id = create(sim).json()["id"]
    url = f"{sim.api_root}/v15/exports/{export_id}"
    reply = requests.get(
        url, params={"redirect": "true"}, headers=AUTH, allow_redirects=False, timeout=10
    )
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "EXPORT_NOT_AVAILABLE"


def test_storage_rejects_auth_header_bad_signature_and_deleted(sim: Simulator) -> None:
    export_id = ready(sim)
    link = status_of(sim, export_id)["downloadLink"]
    with_auth = requests.get(link, headers=AUTH, timeout=10)
    assert with_auth.status_code == 400
    assert "Only one auth mechanism allowed" in with_auth.text
    assert requests.get(link.replace("sig=", "sig=0"), timeout=10).status_code == 403
    assert requests.get(link, timeout=10).ok
    requests.delete(f"{sim.api_root}/v15/exports/{export_id}", headers=AUTH, timeout=10)
    assert requests.get(link, timeout=10).status_code == 404
    storage = [r for r in sim.requests if r.server == "storage" and r.status == 200]
    assert storage
    assert not any(r.had_authorization for r in storage)


def test_list_delete_and_404(sim: Simulator) -> None:
    export_id = create(sim).json()["id"]
    listed = requests.get(f"{sim.api_root}/v15/exports", headers=AUTH, timeout=10).json()
    assert export_id in {item["id"] for item in listed}
    url = f"{sim.api_root}/v15/exports/{export_id}"
    assert requests.delete(url, headers=AUTH, timeout=10).status_code == 204
    assert requests.get(url, headers=AUTH, timeout=10).status_code == 404
    assert requests.delete(url, headers=AUTH, timeout=10).status_code == 404
    listed = requests.get(f"{sim.api_root}/v15/exports", headers=AUTH, timeout=10).json()
    assert export_id not in {item["id"] for item in listed}
    assert sim.exports[export_id].deleted
    unknown = requests.get(f"{sim.api_root}/v15/exports/nope", headers=AUTH, timeout=10)
    assert unknown.status_code == 404
    assert "message" in unknown.json()


def test_json_create_endpoint(sim: Simulator) -> None:
    body = {**window(), "tables": ["searches"], "exportFormat": "NO_NEWLINE", "description": "x"}
    url = f"{sim.api_root}/v15/exports/create"
    reply = requests.post(url, json=body, headers=AUTH, timeout=10)
    assert reply.status_code == 201, reply.text
    assert reply.json()["tables"] == ["SEARCHES"]
    assert sim.exports[reply.json()["id"]].request.export_format == "NO_NEWLINE"


def test_concurrent_creates_are_all_counted(sim: Simulator) -> None:
    before = sim.created_count
    threads = [threading.Thread(target=create, args=(sim,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sim.created_count == before + 8


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"from": None}, id="missing-from"),
        pytest.param({"from": "2024-03-01"}, id="bad-from"),
        pytest.param({"to": "2024-02-01T00:00:00.000Z"}, id="from-after-to"),
        pytest.param({"to": "2025-03-02T00:00:00.000Z"}, id="over-365-days"),
        pytest.param({"tables": "VISITS"}, id="unknown-table"),
        pytest.param({"format": "PARQUET"}, id="unknown-format"),
        pytest.param({"f": 'country=="Canada" OR country=="Japan"'}, id="or-filter"),
        pytest.param({"f": "$myFilter"}, id="named-filter"),
        pytest.param({"fs": 'nope=="x"'}, id="unknown-dimension-filter"),
        pytest.param({"dimensions": "nope"}, id="unknown-dimension"),
        pytest.param({"useDisplayNames": "maybe"}, id="bad-flag"),
    ],
)
def test_bad_parameters_answer_400(sim: Simulator, params: dict[str, Any]) -> None:
    query = {key: value for key, value in {**window(), **params}.items() if value is not None}
    reply = requests.post(f"{sim.api_root}/v15/exports", params=query, headers=AUTH, timeout=10)
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "INVALID_PARAMETER"
    assert reply.json()["type"] == "InvalidParameter"


def test_timestamps_without_milliseconds_are_accepted(sim: Simulator) -> None:
    params = {"from": "2024-03-01T00:00:00Z", "to": "2024-03-01T23:59:59Z"}
    body = create(sim, **params).json()
    assert body["to"] == int(NEXT_DAY.timestamp() * 1000) - 1


def test_row_limit_and_estimate() -> None:
    cfg = SimulatorConfig(row_limit=100, estimate_factor=1.5)
    with Simulator(cfg) as sim:
        limit = requests.get(f"{sim.api_root}/v15/exports/rowLimit", headers=AUTH, timeout=10)
        assert limit.json() == {"exportRowCountLimit": 100}
        query = {**window(), "tables": ["searches", "Clicks"]}
        url = f"{sim.api_root}/v15/exports/estimate"
        estimates = requests.get(url, params=query, headers=AUTH, timeout=10).json()
        searches = len(ground_truth(cfg, "searches", DAY, NEXT_DAY))
        clicks = len(ground_truth(cfg, "clicks", DAY, NEXT_DAY))
        assert estimates == {
            "estimates": {"SEARCHES": round(searches * 1.5), "CLICKS": round(clicks * 1.5)}
        }
        too_big = create(sim, tables="searches")
        assert too_big.status_code == 400
        assert too_big.json()["errorCode"] == "ROW_LIMIT_EXCEEDED"
        assert too_big.json()["message"] == (
            f"The export would contain {searches} rows, which exceeds the row limit of 100 "
            "rows of this organization. Reduce the date range."
        )
        assert create(sim, **window(DAY, DAY + timedelta(hours=2))).status_code == 201


def test_clock_hides_rows_that_do_not_exist_yet() -> None:
    now = [DAY + timedelta(hours=10, minutes=30)]
    cfg = SimulatorConfig(clock=lambda: now[0])
    with Simulator(cfg) as sim:
        query = {**window(), "tables": ["searches"]}
        url = f"{sim.api_root}/v15/exports/estimate"
        estimate = requests.get(url, params=query, headers=AUTH, timeout=10).json()
        existing = ground_truth(cfg, "searches", DAY, NEXT_DAY, now=now[0])
        assert existing == ground_truth(cfg, "searches", DAY, now[0])
        assert 0 < len(existing) < len(ground_truth(cfg, "searches", DAY, NEXT_DAY))
        assert estimate == {"estimates": {"SEARCHES": len(existing)}}
        export_id = ready(sim, tables="searches")
        now[0] = NEXT_DAY + timedelta(days=1)  # an export holds what existed at its creation
        files = members(download(sim, export_id))
        loaded = typed("searches", parse_csv(files["searches.csv"], EXCEL_DIALECT))
        assert loaded == existing
        later = members(download(sim, ready(sim, tables="searches")))
        assert len(parse_csv(later["searches.csv"], EXCEL_DIALECT)) > len(existing)


def test_status_exportables_and_schedules(sim: Simulator) -> None:
    root = sim.api_root
    assert requests.get(f"{root}/v15/exports/status", headers=AUTH, timeout=10).json() == {
        "status": "online"
    }
    dims = requests.get(f"{root}/v15/dimensions/exportables", headers=AUTH, timeout=10).json()
    by_name = {d["returnName"]: d for d in dims}
    assert by_name["searches.queryexpression"]["type"] == "TEXT"
    assert by_name["searches.responsetime"]["type"] == "NUMBER"
    assert by_name["searches.datetime"]["type"] == "DATETIME"
    assert by_name["custom_events.c_cart_value"]["custom"] is True
    url = f"{root}/v15/exports/schedules"
    made = requests.post(url, json={"frequency": "DAILY"}, headers=AUTH, timeout=10)
    assert made.status_code == 201
    one = f"{url}/{made.json()['id']}"
    assert requests.get(one, headers=AUTH, timeout=10).json()["frequency"] == "DAILY"
    assert requests.delete(one, headers=AUTH, timeout=10).status_code == 204
    assert requests.post(url, json={}, headers=AUTH, timeout=10).status_code == 400


# --- zip contents ---------------------------------------------------------------------------


def test_zip_rows_equal_ground_truth_excel(sim: Simulator) -> None:
    files = members(download(sim, ready(sim)))
    assert sorted(files) == sorted(f"{table}.csv" for table in TABLES)
    assert all(raw.startswith(b"\xef\xbb\xbf") for raw in files.values())
    for table in TABLES:
        loaded = typed(table, parse_csv(files[f"{table}.csv"], EXCEL_DIALECT))
        assert loaded == ground_truth(sim.config, table, DAY, NEXT_DAY), table
    header = files["searches.csv"].decode("utf-8-sig").split("\n", 1)[0].split(",")
    assert "username" in header
    assert "userName" in files["clicks.csv"].decode("utf-8-sig").split("\n", 1)[0]


def test_no_newline_format_has_one_line_per_record(sim: Simulator) -> None:
    files = members(download(sim, ready(sim, format="NO_NEWLINE")))
    for table in TABLES:
        raw = files[f"{table}.csv"]
        assert not raw.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in raw
        rows = parse_csv(raw, NO_NEWLINE_DIALECT)
        assert raw.count(b"\n") == len(rows) + 1
        expected = ground_truth(sim.config, table, DAY, NEXT_DAY, export_format="NO_NEWLINE")
        assert typed(table, rows) == expected, table
    assert b'\\"' in files["searches.csv"]
    assert b"\\\\" in files["searches.csv"]


def test_display_names_and_dimensions(sim: Simulator) -> None:
    files = members(download(sim, ready(sim, useDisplayNames="true", tables="clicks")))
    header = files["clicks.csv"].decode("utf-8-sig").split("\n", 1)[0].split(",")
    assert header == [column.display_name for column in sim_columns("clicks")]
    dims = ["searchId", "SEARCHES.queryExpression", "datetime"]
    files = members(download(sim, ready(sim, dimensions=dims)))
    heads = {name: raw.decode("utf-8-sig").split("\n", 1)[0] for name, raw in files.items()}
    assert heads["searches.csv"] == "searchId,datetime,queryExpression"
    assert heads["clicks.csv"] == "datetime,searchId"
    assert heads["custom_events.csv"] == "datetime"


def test_filters_restrict_rows_and_children_follow(sim: Simulator) -> None:
    files = members(
        download(sim, ready(sim, f='originLevel1=="Community"', fc='eventType!="addToCart"'))
    )
    searches = parse_csv(files["searches.csv"], EXCEL_DIALECT)
    assert searches
    assert all(row["originLevel1"] == "Community" for row in searches)
    ids = {row["searchId"] for row in searches}
    assert {row["searchId"] for row in parse_csv(files["keywords.csv"], EXCEL_DIALECT)} <= ids
    events = parse_csv(files["custom_events.csv"], EXCEL_DIALECT)
    assert events
    assert all(row["eventType"] != "addToCart" for row in events)
    assert all(row["originLevel1"] == "Community" for row in events)


def test_server_window_includes_to_at_the_millisecond(sim: Simulator) -> None:
    first = ground_truth(sim.config, "searches", DAY, NEXT_DAY)[0]["datetime"]
    assert isinstance(first, datetime)
    for to, expected in ((first, 1), (first - timedelta(milliseconds=1), 0)):
        params = {"from": iso(DAY), "to": iso(to), "tables": "searches"}
        truth = ground_truth(sim.config, "searches", DAY, NEXT_DAY)
        found = [row for row in truth if stamp(row) <= to]
        rows = parse_csv(
            members(download(sim, ready(sim, **params)))["searches.csv"], EXCEL_DIALECT
        )
        assert len(rows) == len(found)
        assert len([r for r in found if r["datetime"] == first]) == expected


# --- write_export_zip variants ------------------------------------------------------------


@pytest.mark.parametrize(
    ("empty_table", "expected"),
    [
        pytest.param("header", "header", id="header"),
        pytest.param("empty", b"", id="empty"),
        pytest.param("absent", None, id="absent"),
    ],
)
def test_empty_table_variants(tmp_path: Path, empty_table: Any, expected: object) -> None:
    cfg = SimulatorConfig(searches_per_hour=0, empty_table=empty_table)
    counts = write_export_zip(tmp_path / "x.zip", cfg, DAY, NEXT_DAY)
    assert counts == dict.fromkeys(TABLES, 0)
    files = members((tmp_path / "x.zip").read_bytes())
    if expected is None:
        assert files == {}
    elif expected == b"":
        assert set(files.values()) == {b""}
    else:
        assert files["groups.csv"] == b"\xef\xbb\xbfsearchId,groupName,datetime\n"


def test_max_rows_per_file_splits_tables(tmp_path: Path) -> None:
    cfg = SimulatorConfig(max_rows_per_file=50)
    counts = write_export_zip(tmp_path / "x.zip", cfg, DAY, NEXT_DAY, tables=["SEARCHES"])
    files = members((tmp_path / "x.zip").read_bytes())
    assert list(files) == [f"searches_{n}.csv" for n in range(1, len(files) + 1)]
    rows = [parse_csv(raw, EXCEL_DIALECT) for raw in files.values()]
    assert all(len(part) <= 50 for part in rows)
    assert len(rows[0]) == 50
    assert (
        sum(map(len, rows))
        == counts["searches"]
        == len(ground_truth(cfg, "searches", DAY, NEXT_DAY))
    )
    small = write_export_zip(
        tmp_path / "y.zip", cfg, DAY, DAY + timedelta(hours=1), tables=["searches"]
    )
    assert small["searches"] <= 50
    assert list(members((tmp_path / "y.zip").read_bytes())) == ["searches.csv"]


@pytest.mark.parametrize(
    ("style", "pattern"),
    [
        pytest.param("iso_z", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", id="iso_z"),
        pytest.param("iso_z_no_ms", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", id="iso_z_no_ms"),
        pytest.param("space_ms", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", id="space_ms"),
        pytest.param("space", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", id="space"),
    ],
)
def test_timestamp_styles(tmp_path: Path, style: Any, pattern: str) -> None:
    cfg = SimulatorConfig(timestamp_style=style, header_case="api", bom=False)
    end = DAY + timedelta(hours=3)
    write_export_zip(tmp_path / "x.zip", cfg, DAY, end, tables=["searches"])
    raw = members((tmp_path / "x.zip").read_bytes())["searches.csv"]
    assert raw.startswith(b"searchId,datetime,visitId,visitorId,userName,")
    rows = parse_csv(raw, EXCEL_DIALECT)
    assert all(re.fullmatch(pattern, row["datetime"]) for row in rows)
    assert typed("searches", rows) == ground_truth(cfg, "searches", DAY, end)


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "status", "content_type"),
    [
        pytest.param("429", {"retry_after": 2}, 429, "application/json", id="429"),
        pytest.param("500", {}, 500, "application/json", id="500"),
        pytest.param("502", {}, 502, "application/json", id="502"),
        pytest.param("503", {"body": "empty"}, 503, None, id="503-empty"),
        pytest.param("html", {}, 403, "text/html; charset=utf-8", id="html-waf"),
    ],
)
def test_http_faults(
    sim: Simulator, kind: str, options: dict[str, Any], status: int, content_type: str | None
) -> None:
    sim.inject(kind, count=2, path=r"/v15/exports$", method="GET", **options)
    url = f"{sim.api_root}/v15/exports"
    assert requests.get(f"{url}/status", headers=AUTH, timeout=10).ok  # path filter
    for _ in range(2):
        reply = requests.get(url, headers=AUTH, timeout=10)
        assert reply.status_code == status
        assert reply.headers.get("Content-Type") == content_type
        assert "X-Request-ID" in reply.headers
    if kind == "429":
        assert reply.headers["Retry-After"] == "2"
    assert requests.get(url, headers=AUTH, timeout=10).ok


def test_drop_fault_closes_the_connection(sim: Simulator) -> None:
    sim.inject("drop")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sim.api_root}/v15/exports/status", headers=AUTH, timeout=10)
    assert sim.requests[-1].status is None
    assert requests.get(f"{sim.api_root}/v15/exports/status", headers=AUTH, timeout=10).ok


def test_fail_fault_ends_failed(sim: Simulator) -> None:
    sim.inject("fail")
    export_id = create(sim).json()["id"]
    statuses = [status_of(sim, export_id)["status"] for _ in range(3)]
    assert statuses == ["PENDING", "FAILED", "FAILED"]
    assert ready(sim)  # the next one is fine


def test_expire_fault_at_first_download(sim: Simulator) -> None:
    sim.inject("expire")
    export_id = ready(sim)
    link = status_of(sim, export_id)["downloadLink"]
    assert requests.get(link, timeout=10).status_code == 404
    assert status_of(sim, export_id)["status"] == "EXPIRED"


def test_corrupt_and_truncated_downloads(sim: Simulator) -> None:
    export_id = ready(sim)
    sim.inject("corrupt_zip")
    with pytest.raises(zipfile.BadZipFile):
        members(download(sim, export_id))
    sim.inject("truncate")
    with pytest.raises(requests.RequestException):
        download(sim, export_id)
    assert members(download(sim, export_id))


def test_throttle_fault_sends_the_body_slowly(sim: Simulator) -> None:
    export_id = ready(sim)
    content = download(sim, export_id)
    sim.inject("throttle", seconds=0.3)
    sim.inject("throttle", bytes_per_second=len(content) * 4)  # 3 pieces, 0.1 s apart
    for _throttled in range(2):  # each fault paces the body over 0.3 s
        began = time.monotonic()
        assert download(sim, export_id) == content
        assert time.monotonic() - began >= 0.3 * 0.9


def test_throttled_download_arrives_in_pieces(sim: Simulator) -> None:
    export_id = ready(sim)
    sim.inject("throttle", seconds=1.0)
    link = status_of(sim, export_id)["downloadLink"]
    began = time.monotonic()
    with requests.get(link, stream=True, timeout=10) as reply:
        first = reply.raw.read1(1 << 20)
        assert 0 < len(first) < int(reply.headers["Content-Length"]) / 10
        assert time.monotonic() - began < 0.8, "the first piece comes before the pacing ends"
        rest = reply.raw.read()
    assert time.monotonic() - began >= 0.9
    assert members(first + rest)


def test_malformed_fault_adds_bad_lines_to_one_export(sim: Simulator) -> None:
    clean = members(download(sim, ready(sim)))
    sim.inject("malformed", lines=4, nul_bytes=2)
    export_id = ready(sim)
    spoiled = members(download(sim, export_id))
    assert members(download(sim, export_id)) == spoiled, "later downloads: the same zip"
    assert members(download(sim, ready(sim))) == clean, "the fault applies to one export"
    assert {n: m for n, m in spoiled.items() if n != "searches.csv"} == {
        n: m for n, m in clean.items() if n != "searches.csv"
    }
    lines = spoiled["searches.csv"].split(b"\n")
    size = clean["searches.csv"].count(b"\n")
    bad = [number for number, line in enumerate(lines, start=1) if b"malformed-" in line]
    assert bad == [2, size + 2, size + 3, size + 4]
    assert spoiled["searches.csv"].count(b"\0") == 2
    good = b"\n".join(line for line in lines if b"malformed-" not in line)
    assert good.replace(b"\0", b"") == clean["searches.csv"], "the good rows are unchanged"
    header = parse_csv(clean["searches.csv"], EXCEL_DIALECT)[0].keys()
    too_long, bad_number, no_identifier, again = (
        next(csv.reader([lines[number - 1].decode()])) for number in bad
    )
    assert len(too_long) == len(again) == len(header) + 1
    record = dict(zip(header, bad_number, strict=True))
    assert (record["searchId"], record["numberOfResults"]) == ("malformed-2", "not-a-number")
    record = dict(zip(header, no_identifier, strict=True))
    assert record["searchId"] == ""
    assert "malformed-3" in record.values()


def test_malformed_copy_of_a_table_the_zip_lacks(tmp_path: Path) -> None:
    source, copy = tmp_path / "in.zip", tmp_path / "out.zip"
    write_export_zip(source, SimulatorConfig(), DAY, NEXT_DAY, tables=["CLICKS"])
    assert write_malformed_copy(source, copy, table="searches") == []
    assert members(copy.read_bytes()) == members(source.read_bytes())
    assert write_malformed_copy(source, copy, table="clicks", lines=2)[0] == 2


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        pytest.param("throttle", {"seconds": 0}, id="throttle-zero-seconds"),
        pytest.param("throttle", {"bytes_per_second": "fast"}, id="throttle-text-rate"),
        pytest.param("malformed", {"table": "sessions"}, id="malformed-unknown-table"),
        pytest.param("malformed", {"lines": 1.5}, id="malformed-fractional-lines"),
        pytest.param("malformed", {"nul_bytes": -1}, id="malformed-negative-nul-bytes"),
        pytest.param("malformed", {"lines": True}, id="malformed-bool-lines"),
    ],
)
def test_bad_fault_option_values_are_rejected(
    sim: Simulator, kind: str, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="Bad fault arguments"):
        sim.inject(kind, **options)


def test_row_limit_and_slow_faults() -> None:
    with Simulator(SimulatorConfig(pending_polls=0)) as sim:
        sim.inject("row_limit")
        refused = create(sim, **window(DAY, DAY + timedelta(hours=1)))
        assert refused.status_code == 400
        assert refused.json()["errorCode"] == "ROW_LIMIT_EXCEEDED"
        sim.inject("slow", seconds=0.2)
        export_id = create(sim).json()["id"]
        assert status_of(sim, export_id)["status"] == "PENDING"
        threading.Event().wait(0.25)
        assert status_of(sim, export_id)["status"] == "AVAILABLE"


def test_unknown_fault_is_rejected(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="Unknown fault"):
        sim.inject("teapot")
    with pytest.raises(ValueError, match="Bad fault arguments"):
        sim.inject("500", colour="red")


# --- command line -------------------------------------------------------------------------


def test_command_line_serves_until_interrupted(tmp_path: Path) -> None:
    """The command in its own process (forked: no second import of dlt), stopped by SIGINT."""
    out = tmp_path / "out.txt"
    process = forked.start(
        "coveo_ua_simulator.__main__:main", ["--port", "0"],
        environment=dict(os.environ), cwd=tmp_path, stdout=out, stderr=tmp_path / "err.txt",
    )  # fmt: skip
    try:
        lines = _first_lines(out, 4, process)
        api_root = lines[0].split(": ", 1)[1].strip()
        assert lines[2].strip() == f"token: {TOKEN}"
        reply = requests.get(f"{api_root}/v15/exports/status", headers=AUTH, timeout=10)
        assert reply.json() == {"status": "online"}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()


def _first_lines(path: Path, count: int, process: forked.ForkedProcess) -> list[str]:
    """The first ``count`` whole lines the process wrote to ``path``, waiting up to 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
        if len(lines) >= count and lines[count - 1].endswith("\n"):
            return lines[:count]
        time.sleep(0.01)
    raise AssertionError(f"the simulator printed no {count} lines: {process.poll()=}")


# --- how often custom dimension values do not parse --------------------------------------


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.5])
def test_bad_dimension_rate_sets_the_share_of_values_that_do_not_parse(rate: float) -> None:
    from coveo_ua_simulator.truth import iter_batches, rejected_values

    cfg = SimulatorConfig(searches_per_hour=400, bad_dimension_rate=rate)
    end = DAY + timedelta(days=2)
    span = (to_ms(DAY), to_ms(end))
    for table, dimensions in (("searches", 1), ("clicks", 1), ("custom_events", 3)):
        rows = count_rows(cfg, table, span)  # counted without drawing the values
        bad = len(rejected_values(cfg, table, DAY, end))
        share = bad / (rows * dimensions)
        assert rows > 5_000
        assert abs(share - rate) <= max(0.2 * rate, 0.0), (table, share)
        drawn = sum(map(len, iter_batches(cfg, table, span)))  # the rows ground_truth reads
        assert drawn == rows, "the rate changes values, never the rows"


def test_bad_dimension_rate_keeps_every_other_value_and_defaults_to_the_pools() -> None:
    default = ground_truth(SimulatorConfig(), "custom_events", DAY, NEXT_DAY)
    none_bad = ground_truth(SimulatorConfig(bad_dimension_rate=0.0), "custom_events", DAY, NEXT_DAY)
    dims = {"c_cart_value", "c_delivery_date", "c_ordered_at"}
    strip = [{k: v for k, v in row.items() if k not in dims} for row in default]
    assert strip == [{k: v for k, v in row.items() if k not in dims} for row in none_bad]
    assert any(row["c_cart_value"] is None for row in default)  # "1,299.00" loads as NULL
    kept = [(a["c_cart_value"], b["c_cart_value"]) for a, b in zip(default, none_bad, strict=True)]
    assert all(a == b for a, b in kept if a is not None), "values that parse stay as they were"


def test_bad_dimension_rate_is_checked_and_settable_from_the_command_line() -> None:
    from coveo_ua_simulator.__main__ import _config, _parser

    with pytest.raises(ValueError, match="bad_dimension_rate"):
        SimulatorConfig(bad_dimension_rate=1.5)
    args = _parser().parse_args(["--bad-dimension-rate", "0.001"])
    assert _config(args).bad_dimension_rate == 0.001
    assert _config(_parser().parse_args([])).bad_dimension_rate is None


@pytest.mark.parametrize("table", TABLES)
def test_an_hour_drawn_again_is_the_same_and_a_change_to_it_is_not_kept(table: TTable) -> None:
    """Small hours come from a per-process cache, large ones are drawn each time."""
    hour = 473_352  # 2024-01-01 00:00 UTC, in hours since the epoch
    first = hour_columns(7, 30, table, hour, 0.1)
    assert first[0], "the hour has rows: the test proves nothing otherwise"
    first.pop()
    again = hour_columns(7, 30, table, hour, 0.1)
    assert len(again) == len(FIELDS[table]), "the caller's change reached the cache"
    assert [list(column) for column in again[:-1]] == [list(column) for column in first]
    large = hour_columns(7, 400, table, hour)
    assert [list(c) for c in large] == [list(c) for c in hour_columns(7, 400, table, hour)]
