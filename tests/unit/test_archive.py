"""The reader: zips built here from hand-written CSV text, read back into Arrow batches."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pytest
from helpers.zips import make_zip, read_batches, read_rows

from coveo_ua_source.exceptions import ConfigurationError, ExportFileError
from coveo_ua_source.ingest import member as member_reader
from coveo_ua_source.ingest.archive import RejectedRow, arrow_schema, read_table, table_members

BOM = "\ufeff"
TS_UTC = pa.timestamp("us", tz="UTC")


# --- bytes: BOM, NUL -----------------------------------------------------------------------


@pytest.mark.parametrize("bom", [pytest.param(BOM, id="bom"), pytest.param("", id="no-bom")])
@pytest.mark.parametrize("export_format", ["EXCEL", "NO_NEWLINE"])
def test_bom_is_stripped_from_the_first_header(
    tmp_path: Path, bom: str, export_format: str
) -> None:
    path = make_zip(tmp_path, {"searches.csv": f"{bom}searchId,queryExpression\ns1,hello\n"})
    batches = read_batches(path, export_format=export_format)
    assert batches[0].schema.names == ["search_id", "query_expression"]
    assert batches[0].to_pylist() == [{"search_id": "s1", "query_expression": "hello"}]


def test_nul_bytes_are_removed(tmp_path: Path) -> None:
    csv = b'searchId,queryExpression,numberOfResults\ns1,"a\x00b",1\x002\ns\x002,\x00,3\n'
    path = make_zip(tmp_path, {"searches.csv": csv})
    assert read_rows(path) == [
        {"search_id": "s1", "query_expression": "ab", "number_of_results": 12},
        {"search_id": "s2", "query_expression": None, "number_of_results": 3},
    ]


# --- values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "2024-01-31T23:59:59.999Z", datetime(2024, 1, 31, 23, 59, 59, 999000, UTC), id="T-ms-Z"
        ),
        pytest.param(
            "2024-01-31T23:59:59Z", datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC), id="T-Z"
        ),
        pytest.param(
            "2024-01-31 23:59:59.999", datetime(2024, 1, 31, 23, 59, 59, 999000, UTC), id="space-ms"
        ),
        pytest.param(
            "2024-01-31 23:59:59", datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC), id="space"
        ),
        pytest.param(
            "2024-02-01T00:00:00.000001Z", datetime(2024, 2, 1, 0, 0, 0, 1, UTC), id="T-us-Z"
        ),
    ],
)
def test_timestamp_forms_are_utc_microseconds(
    tmp_path: Path, text: str, expected: datetime
) -> None:
    path = make_zip(tmp_path, {"searches.csv": f"searchId,datetime\ns1,{text}\n"})
    batch = read_batches(path)[0]
    assert batch.schema.field("datetime").type == TS_UTC
    micros = batch.column("datetime").cast(pa.int64())[0].as_py()
    assert micros == int(expected.timestamp() * 1_000_000)
    assert batch.column("datetime")[0].as_py() == expected


def test_timestamp_forms_may_be_mixed_in_a_file(tmp_path: Path) -> None:
    csv = (
        "searchId,datetime\n"
        "a,2024-01-31T23:59:59Z\nb,2024-01-31 23:59:59\nc,2024-01-31 23:59:59.5\n"
    )
    path = make_zip(tmp_path, {"searches.csv": csv})
    values = [row["datetime"] for row in read_rows(path)]
    assert values == [
        datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2024, 1, 31, 23, 59, 59, 500000, UTC),
    ]


@pytest.mark.parametrize("newline", [pytest.param("\n", id="LF"), pytest.param("\r\n", id="CRLF")])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param('"a, b"', "a, b", id="embedded-comma"),
        pytest.param('"say ""hi"""', 'say "hi"', id="doubled-quotes"),
        pytest.param('"line 1\nline 2"', "line 1\nline 2", id="LF-in-value"),
        pytest.param('"line 1\r\nline 2"', "line 1\r\nline 2", id="CRLF-in-value"),
        pytest.param("Montréal, Québec".join('""'), "Montréal, Québec", id="non-ascii"),
        pytest.param("日本語 🎉", "日本語 🎉", id="cjk-emoji"),
        pytest.param('""', None, id="quoted-empty"),
    ],
)
def test_excel_values(tmp_path: Path, newline: str, field: str, value: str | None) -> None:
    csv = newline.join(["searchId,queryExpression,tab", f"s1,{field},t", "s2,plain,t", ""])
    path = make_zip(tmp_path, {"searches.csv": csv})
    assert read_rows(path) == [
        {"search_id": "s1", "query_expression": value, "tab": "t"},
        {"search_id": "s2", "query_expression": "plain", "tab": "t"},
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(r'"say \"hi\""', 'say "hi"', id="escaped-quote"),
        pytest.param(r'"C:\\temp\\x"', r"C:\temp\x", id="escaped-backslash"),
        pytest.param(r'"a, b \\"', "a, b \\", id="comma-and-trailing-backslash"),
        pytest.param(r'"50\" screen"', '50" screen', id="quote-mid-value"),
    ],
)
def test_no_newline_escapes(tmp_path: Path, field: str, value: str) -> None:
    csv = f"searchId,queryExpression,tab\ns1,{field},t\n"
    path = make_zip(tmp_path, {"searches.csv": csv})
    rows = read_rows(path, export_format="NO_NEWLINE")
    assert rows == [{"search_id": "s1", "query_expression": value, "tab": "t"}]


def test_numbers_and_bools_are_typed(tmp_path: Path) -> None:
    csv = (
        "searchId,numberOfResults,responseTime,isAnonymous,mobile\n"
        "a,0,1.5,true,TRUE\n"
        "b,-42,2,False,1\n"
        "c,9223372036854775807,1e3,tRuE,0\n"
    )
    batch = read_batches(make_zip(tmp_path, {"searches.csv": csv}))[0]
    assert batch.schema.field("number_of_results").type == pa.int64()
    assert batch.schema.field("response_time").type == pa.float64()
    assert batch.schema.field("is_anonymous").type == pa.bool_()
    assert batch.column("number_of_results").to_pylist() == [0, -42, 9223372036854775807]
    assert batch.column("response_time").to_pylist() == [1.5, 2.0, 1000.0]
    assert batch.column("is_anonymous").to_pylist() == [True, False, True]
    assert batch.column("mobile").to_pylist() == [True, True, False]


@pytest.mark.parametrize(
    "empty", [pytest.param("", id="unquoted"), pytest.param('""', id="quoted")]
)
def test_empty_fields_are_null_for_every_type(tmp_path: Path, empty: str) -> None:
    header = "searchId,queryExpression,numberOfResults,responseTime,isAnonymous,datetime,c_x"
    csv = f"{header}\ns1,{empty},{empty},{empty},{empty},{empty},{empty}\n"
    rows = read_rows(make_zip(tmp_path, {"searches.csv": csv}))
    assert rows == [
        {
            "search_id": "s1",
            "query_expression": None,
            "number_of_results": None,
            "response_time": None,
            "is_anonymous": None,
            "datetime": None,
            "c_x": None,
        }
    ]


def test_null_like_text_stays_text(tmp_path: Path) -> None:
    csv = "searchId,country,queryExpression,c_x\ns1,NA,null,N/A\n"
    rows = read_rows(make_zip(tmp_path, {"searches.csv": csv}))
    assert rows == [{"search_id": "s1", "country": "NA", "query_expression": "null", "c_x": "N/A"}]


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "header", "expected"),
    [
        pytest.param("searches", "username", "user_name", id="searches-username"),
        pytest.param("clicks", "userName", "user_name", id="clicks-userName"),
        pytest.param("searches", "USERNAME", "user_name", id="upper-case"),
        pytest.param("searches", "User Name", "user_name", id="display-name"),
        pytest.param("searches", "user name", "user_name", id="display-name-lower"),
        pytest.param("searches", "user_name", "user_name", id="snake-case"),
        pytest.param("searches", "c_context_role", "c_context_role", id="catalog-custom"),
        pytest.param("searches", "c_my_dimension", "c_my_dimension", id="unknown-custom"),
        pytest.param("searches", "My Display Name", "My Display Name", id="unknown-display"),
    ],
)
def test_header_forms(tmp_path: Path, table: str, header: str, expected: str) -> None:
    identifier = {"searches": "searchId", "clicks": "clickId"}[table]
    path = make_zip(tmp_path, {f"{table}.csv": f"{identifier},{header}\nid1,Alice\n"})
    batch = read_batches(path, table)[0]
    assert batch.schema.names[1] == expected
    assert batch.schema.field(expected).type == pa.string()
    assert batch.column(expected).to_pylist() == ["Alice"]


def test_display_name_headers_are_typed_from_the_catalog(tmp_path: Path) -> None:
    csv = (
        "Search ID,Date,Number Of Results,Response Time,Is Anonymous,Visitor ID\n"
        "s1,2024-01-31 23:59:59,7,0.25,false,v1\n"
    )
    batch = read_batches(make_zip(tmp_path, {"searches.csv": csv}))[0]
    assert batch.schema == pa.schema(
        [
            pa.field("search_id", pa.string(), nullable=False),
            pa.field("datetime", TS_UTC),
            pa.field("number_of_results", pa.int64()),
            pa.field("response_time", pa.float64()),
            pa.field("is_anonymous", pa.bool_()),
            pa.field("visitor_id", pa.string()),
        ]
    )
    assert batch.to_pylist()[0]["number_of_results"] == 7


def test_unknown_column_is_text_even_when_it_looks_numeric(tmp_path: Path) -> None:
    csv = "searchId,c_cart_total\ns1,12.5\ns2,3\n"
    batch = read_batches(make_zip(tmp_path, {"searches.csv": csv}))[0]
    assert batch.schema.field("c_cart_total").type == pa.string()
    assert batch.column("c_cart_total").to_pylist() == ["12.5", "3"]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("searchId,username,userName", id="two-casings"),
        pytest.param("searchId,User Name,username", id="display-and-api"),
        pytest.param("searchId,c_x,C_X", id="unknown-casing"),
        pytest.param("searchId,,c_x", id="empty-header"),
    ],
)
def test_conflicting_or_empty_headers_are_errors(tmp_path: Path, header: str) -> None:
    path = make_zip(tmp_path, {"searches.csv": f"{header}\ns1,a,b\n"})
    with pytest.raises(ExportFileError, match=r"searches\.csv"):
        read_rows(path)


@pytest.mark.parametrize(
    ("table", "non_nullable"),
    [
        pytest.param("searches", {"search_id"}, id="searches"),
        pytest.param("clicks", {"click_id"}, id="clicks"),
        pytest.param("custom_events", {"custom_event_id"}, id="custom_events"),
        pytest.param("keywords", {"search_id", "keyword"}, id="keywords"),
        pytest.param("groups", {"search_id", "group_name"}, id="groups"),
    ],
)
def test_identifier_fields_are_not_nullable(table: str, non_nullable: set[str]) -> None:
    headers = [
        "searchId", "clickId", "customEventId", "keyword", "groupName", "datetime", "c_extra"
    ]  # fmt: skip
    schema = arrow_schema(table, headers)  # type: ignore[arg-type]
    assert {field.name for field in schema if not field.nullable} == non_nullable
    assert schema.field("datetime").type == TS_UTC


def test_batches_carry_the_non_nullable_identifier(tmp_path: Path) -> None:
    csv = "searchId,keyword,datetime\ns1,shoes,2024-01-31T00:00:00Z\n"
    batch = read_batches(make_zip(tmp_path, {"keywords.csv": csv}), "keywords")[0]
    assert not batch.schema.field("search_id").nullable
    assert not batch.schema.field("keyword").nullable
    assert batch.schema.field("datetime").nullable


# --- members -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("", id="empty-file"),
        pytest.param(BOM, id="bom-only"),
        pytest.param("searchId,datetime", id="header-only-no-newline"),
        pytest.param("searchId,datetime\r\n", id="header-only"),
        pytest.param(f"{BOM}searchId,datetime\n\n", id="header-and-blank-line"),
    ],
)
def test_files_without_rows_yield_nothing(tmp_path: Path, content: str) -> None:
    path = make_zip(tmp_path, {"searches.csv": content})
    assert read_batches(path) == []


def test_absent_table_yields_nothing(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {"clicks.csv": "clickId\nc1\n"})
    assert read_batches(path, "searches") == []


@pytest.mark.parametrize(
    "folder", [pytest.param("", id="root"), pytest.param("export/", id="folder")]
)
def test_split_members_are_read_in_order(tmp_path: Path, folder: str) -> None:
    members = {
        f"{folder}searches_10.csv": "searchId\ns10\n",
        f"{folder}searches_2.csv": "username,searchId\nu,s2\n",  # own header order
        f"{folder}searches_1.csv": f"{BOM}searchId\ns1a\ns1b\n",
        f"{folder}clicks_1.csv": "clickId\nc1\n",
    }
    path = make_zip(tmp_path, members)
    assert [row["search_id"] for row in read_rows(path)] == ["s1a", "s1b", "s2", "s10"]


def test_table_members_groups_and_orders(tmp_path: Path) -> None:
    members: dict[str, str | bytes] = {
        "README.txt": "",
        "dir/": "",
        "__MACOSX/._searches.csv": "",
        "a/SEARCHES-2.csv": "",
        "searches.csv": "",
        "b/searches_1.csv": "",
        "Custom_Events.csv": "",
        "searches_summary.csv": "",
        "keywords.txt": "",
    }
    path = make_zip(tmp_path, members)
    assert table_members(path) == {
        "searches": ["searches.csv", "b/searches_1.csv", "a/SEARCHES-2.csv"],
        "custom_events": ["Custom_Events.csv"],
    }


# --- malformed rows ------------------------------------------------------------------------

MALFORMED = (
    "searchId,queryExpression,numberOfResults,isAnonymous,datetime\r\n"  # line 1
    's1,"two\r\nlines",1,true,2024-01-31T00:00:00Z\r\n'  # lines 2-3
    "s2,q,many,true,2024-01-31T00:00:00Z\r\n"  # line 4: bad bigint
    "s3,q,3,true\r\n"  # line 5: too few fields
    's3b,"too\r\nfew",3\r\n'  # lines 6-7: too few fields, over two lines
    's4,"a\nb\nc",4,false,2024-01-31 00:00:00\r\n'  # lines 8-10
    ",q,5,true,2024-01-31T00:00:00Z\r\n"  # line 11: empty identifier
    "s6,q,6,maybe,2024-01-31T00:00:00Z\r\n"  # line 12: bad bool
    "s7,q,7,true,2024-01-31T00:00:00Z,extra\r\n"  # line 13: too many fields
    "s8,q,8,true,31/01/2024\r\n"  # line 14: bad timestamp
    's9,"\xff",9,true,2024-01-31T00:00:00Z\r\n'  # line 15: invalid UTF-8, repaired
    "s10,q,10,true,2024-01-31T00:00:00Z\r\n"  # line 16
)
EXPECTED_REJECTS = [
    (4, "s2", "bigint column 'number_of_results'"),
    (5, "s3", "expected 5 fields, found 4"),
    (6, "s3b", "expected 5 fields, found 3"),
    (11, ",q,5", "the identifier 'search_id' is empty"),
    (12, "s6", "bool column 'is_anonymous'"),
    (13, "s7", "expected 5 fields, found 6"),
    (14, "s8", "timestamp column 'datetime'"),
]


def malformed_zip(tmp_path: Path) -> Path:
    data = MALFORMED.encode("utf-8").replace(b"\xc3\xbf", b"\xff")  # a lone 0xFF byte
    return make_zip(tmp_path, {"searches.csv": data})


@pytest.mark.parametrize(
    "block_size", [pytest.param(64, id="64B-blocks"), pytest.param(1 << 20, id="1MiB-blocks")]
)
def test_malformed_rows_are_reported_with_line_numbers(tmp_path: Path, block_size: int) -> None:
    rejected: list[RejectedRow] = []
    rows = read_rows(malformed_zip(tmp_path), block_size=block_size, on_rejected=rejected.append)
    assert [row["search_id"] for row in rows] == ["s1", "s4", "s9", "s10"]
    assert rows[0]["query_expression"] == "two\r\nlines"
    assert rows[2]["query_expression"] == "\ufffd", "invalid UTF-8 in free text is repaired"
    got = [(r.line_number, r.raw_text, r.reason) for r in rejected]
    assert len(got) == len(EXPECTED_REJECTS)
    for (line, text, reason), (want_line, want_text, want_reason) in zip(
        got, EXPECTED_REJECTS, strict=True
    ):
        assert (line, text.startswith(want_text), want_reason in reason) == (want_line, True, True)
    assert {(r.table, r.member) for r in rejected} == {("searches", "searches.csv")}


def test_field_count_rejects_carry_the_raw_record(tmp_path: Path) -> None:
    rejected: list[RejectedRow] = []
    read_rows(malformed_zip(tmp_path), on_rejected=rejected.append)
    assert rejected[1].raw_text == "s3,q,3,true"
    assert rejected[2].raw_text == 's3b,"too\r\nfew",3'


def test_malformed_row_without_handler_raises(tmp_path: Path) -> None:
    with pytest.raises(ExportFileError, match=r"searches\.csv.*line 4.*number_of_results"):
        read_rows(malformed_zip(tmp_path))


def test_no_newline_rejects_have_line_numbers(tmp_path: Path) -> None:
    csv = 'searchId,queryExpression,numberOfResults\ns1,"a\\"b",1\ns2,q,x\ns3,q\ns4,q,4\n'
    rejected: list[RejectedRow] = []
    path = make_zip(tmp_path, {"searches.csv": csv})
    rows = read_rows(path, export_format="NO_NEWLINE", on_rejected=rejected.append)
    assert [row["search_id"] for row in rows] == ["s1", "s4"]
    assert [(r.line_number, r.reason[:6]) for r in rejected] == [(3, "bigint"), (4, "expect")]


def test_small_blocks_give_the_same_rows(tmp_path: Path) -> None:
    lines = ["searchId,queryExpression,numberOfResults,datetime"]
    for index in range(300):
        query = f'"row {index}, ""quoted""\nsecond line é🎉 {"x" * (index % 50)}"'
        lines.append(f"s{index},{query},{index},2024-01-31 23:59:{index % 60:02d}.{index:03d}")
    path = make_zip(tmp_path, {"searches.csv": "\r\n".join(lines) + "\r\n"})
    small = read_batches(path, block_size=256)
    large = read_batches(path)
    assert len(small) > 50
    assert pa.Table.from_batches(small).equals(pa.Table.from_batches(large))
    assert pa.Table.from_batches(small).num_rows == 300


def test_blank_lines_are_skipped_not_rejected(tmp_path: Path) -> None:
    csv = "searchId,queryExpression\r\ns1,a\r\n\r\ns2,b\r\n\r\n\r\n"
    rejected: list[RejectedRow] = []
    rows = read_rows(make_zip(tmp_path, {"searches.csv": csv}), on_rejected=rejected.append)
    assert [row["search_id"] for row in rows] == ["s1", "s2"]
    assert rejected == []


def test_stopping_early_closes_cleanly(tmp_path: Path) -> None:
    lines = "".join(f"s{index},query {index}\n" for index in range(5000))
    path = make_zip(tmp_path, {"searches.csv": f"searchId,queryExpression\n{lines}"})
    batches = cast(Generator[pa.RecordBatch], read_table(path, "searches", block_size=1024))
    first = next(batches)
    batches.close()
    assert first.num_rows > 0
    assert read_rows(path, block_size=1024)[-1]["search_id"] == "s4999"


def test_row_longer_than_block_is_read_whole(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {"searches.csv": f"searchId,queryExpression\ns1,{'x' * 600}\n"})
    assert read_rows(path, block_size=256) == [{"search_id": "s1", "query_expression": "x" * 600}]


# --- broken and hostile zips ---------------------------------------------------------------


def _good_zip_bytes(tmp_path: Path) -> bytes:
    lines = "".join(f"s{index},query {index}\n" for index in range(2000))
    return make_zip(tmp_path, {"searches.csv": f"searchId,queryExpression\n{lines}"}).read_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"this is not a zip", id="not-a-zip"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:-10], id="truncated-directory"),
        pytest.param(lambda data: b"", id="empty-download"),
    ],
)
def test_unreadable_zip_is_an_export_file_error(tmp_path: Path, damage: Any) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(damage(_good_zip_bytes(tmp_path)))
    with pytest.raises(ExportFileError, match="not a readable zip"):
        table_members(path)
    with pytest.raises(ExportFileError, match="not a readable zip"):
        read_rows(path)


def test_corrupt_member_data_is_an_export_file_error(tmp_path: Path) -> None:
    data = bytearray(_good_zip_bytes(tmp_path))
    start = 30 + len("searches.csv")  # after the local file header
    data[start + 100 : start + 140] = bytes(40)
    path = tmp_path / "bad.zip"
    path.write_bytes(bytes(data))
    assert table_members(path) == {"searches": ["searches.csv"]}  # the directory is intact
    with pytest.raises(ExportFileError, match=r"searches\.csv"):
        read_rows(path)


def test_missing_zip_is_an_export_file_error(tmp_path: Path) -> None:
    with pytest.raises(ExportFileError, match="not a readable zip"):
        read_rows(tmp_path / "missing.zip")


def test_zip_bomb_refused_by_declared_ratio(tmp_path: Path) -> None:
    bomb = "searchId\n" + "a" * 5_000_000  # deflates about 1000:1
    path = make_zip(tmp_path, {"searches.csv": bomb})
    with pytest.raises(ExportFileError, match=r"searches\.csv.*ZIP_MAX_RATIO=200.*zip bomb"):
        read_rows(path)


def test_zip_bomb_refused_by_declared_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(member_reader, "ZIP_MAX_MEMBER_BYTES", 1000)
    path = make_zip(tmp_path, {"searches.csv": "searchId\n" + "s\n" * 1000}, zipfile.ZIP_STORED)
    with pytest.raises(
        ExportFileError, match=r"declares \d+ bytes .* limit of 1000 bytes.*zip bomb"
    ):
        read_rows(path)


def _lie_about_size(data: bytes, size: int) -> bytes:
    """Set the uncompressed size in the local and central headers of a one-member zip."""
    patched = bytearray(data)
    local, central = patched.find(b"PK\x03\x04"), patched.find(b"PK\x01\x02")
    struct.pack_into("<I", patched, local + 22, size)
    struct.pack_into("<I", patched, central + 24, size)
    return bytes(patched)


def test_lying_header_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "lying.zip"
    path.write_bytes(_lie_about_size(_good_zip_bytes(tmp_path), 100))
    with pytest.raises(ExportFileError, match=r"searches\.csv.*(CRC|inflates past)"):
        read_rows(path, block_size=256)


def test_inflated_bytes_are_counted_against_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip library that trusted a lying header would hand over more than declared."""
    path = make_zip(tmp_path, {"searches.csv": "searchId\ns1\n"})  # limit: 200 x ~14 bytes
    flood = b"searchId\n" + b"s1\n" * 100_000

    def open_flood(self: zipfile.ZipFile, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(flood)

    monkeypatch.setattr(zipfile.ZipFile, "open", open_flood)
    with pytest.raises(ExportFileError, match=r"searches\.csv.*inflates past the limit"):
        read_rows(path, block_size=1024)


# --- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"block_size": 0}, id="block-size"),
        pytest.param({"table": "sessions"}, id="table"),
    ],
)
def test_bad_arguments(tmp_path: Path, options: dict[str, Any]) -> None:
    path = make_zip(tmp_path, {"searches.csv": "searchId\ns1\n"})
    table = options.pop("table", "searches")
    with pytest.raises(ConfigurationError):
        read_rows(path, table, **options)
