"""The reader against hostile files: colliding headers, dlt's names, odd members, long rows,
invalid UTF-8. Whole-pipeline outcomes are in test_hostile_archives.py."""

from __future__ import annotations

import contextlib
import logging
import re
import zipfile
from pathlib import Path

import pytest
from helpers.zips import make_zip, read_rows

from coveo_ua_source.exceptions import ConfigurationError, ExportFileError
from coveo_ua_source.ingest.archive import (
    ReadStats,
    RejectedRow,
    arrow_schema,
    missing_table_error,
    read_table,
    table_members,
)

HEADER = "searchId,queryExpression,datetime\n"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param(["searchId", "searchId"], "'searchId' (column 1) and 'searchId'", id="exact"),
        pytest.param(["searchId", "Search ID"], "both become column 'search_id'", id="display"),
        pytest.param(["searchId", "search_id"], "both become column 'search_id'", id="snake"),
        pytest.param(["searchId", "c_Note", "C_NOTE"], "both become column 'c_note'", id="case"),
        pytest.param(["searchId", "c note", "c_note"], "both become column 'c_note'", id="space"),
        pytest.param(["searchId", "c__note", "c_note"], "both become column 'c_note'", id="under"),
        pytest.param(
            ["searchId", "_dlt_id", "coveo_dlt_id"], "both become column 'coveo_dlt_id'", id="dlt"
        ),
    ],
)
def test_headers_that_dlt_names_alike_are_refused(headers: list[str], message: str) -> None:
    with pytest.raises(ExportFileError, match=re.escape(message)) as raised:
        arrow_schema("searches", headers)
    assert "searches file" in str(raised.value)


def test_dlt_prefixed_columns_are_renamed() -> None:
    schema = arrow_schema("searches", ["searchId", "_dlt_id", "_DLT_LOAD_ID", "_dlt_parent_id"])
    assert schema.names == ["search_id", "coveo_dlt_id", "coveo_dlt_load_id", "coveo_dlt_parent_id"]


def test_a_repeated_header_refuses_the_file_before_any_row(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {"searches.csv": "searchId,queryExpression,searchId\ns1,q,s1\n"})
    with pytest.raises(ExportFileError, match="both become column 'search_id'"):
        read_rows(path)


def _zip_entries(tmp_path: Path, entries: list[tuple[str, str]]) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries:
            repeated = name in archive.namelist()
            expected = pytest.warns(UserWarning, match="Duplicate name")
            with expected if repeated else contextlib.nullcontext():
                archive.writestr(name, text)
    return path


def test_a_member_stored_twice_with_the_same_content_is_read_once(tmp_path: Path) -> None:
    body = HEADER + "s1,q,2024-01-01T00:00:00Z\n"
    path = _zip_entries(tmp_path, [("searches.csv", body), ("searches.csv", body)])
    assert table_members(path) == {"searches": ["searches.csv"]}
    assert [row["search_id"] for row in read_rows(path)] == ["s1"]


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(["searches.csv", "searches.csv"], id="same-name"),
        pytest.param(["a/searches.csv", "b\\searches.csv"], id="two-folders"),
    ],
)
def test_members_for_the_same_file_with_different_contents_are_refused(
    tmp_path: Path, names: list[str]
) -> None:
    first = HEADER + "s1,q,2024-01-01T00:00:00Z\n"
    path = _zip_entries(tmp_path, [(names[0], first), (names[1], first + "s2,q,\n")])
    with pytest.raises(ExportFileError, match="different contents"):
        table_members(path)


def test_backslash_and_nested_member_names_are_recognized(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path,
        {
            "export\\data\\searches.csv": HEADER + "s1,q,2024-01-01T00:00:00Z\n",
            "deep/er/Clicks_2.csv": "clickId\nc1\n",
            "x\\keywords.txt": "",
        },
    )
    assert table_members(path) == {
        "searches": ["export\\data\\searches.csv"],
        "clicks": ["deep/er/Clicks_2.csv"],
    }
    assert [row["search_id"] for row in read_rows(path)] == ["s1"]


@pytest.mark.parametrize(
    ("members", "estimated", "refused"),
    [
        pytest.param({"clicks.csv": "clickId\n"}, 5, True, id="absent-with-estimate"),
        pytest.param({"clicks.csv": "clickId\n"}, 0, False, id="absent-estimated-zero"),
        pytest.param({"clicks.csv": "clickId\n"}, None, False, id="absent-no-estimate"),
        pytest.param({"searches.csv": ""}, 5, False, id="empty-member"),
        pytest.param({"searches.csv": HEADER}, 5, False, id="header-only-member"),
    ],
)
def test_a_table_missing_from_the_zip_is_an_error_only_when_rows_were_estimated(
    tmp_path: Path, members: dict[str, str], estimated: int | None, refused: bool
) -> None:
    path = make_zip(tmp_path, members)
    error = missing_table_error(path, "searches", estimated)
    assert (error is not None) == refused
    if error is not None:
        assert f"estimated {estimated} rows" in str(error)
    assert read_rows(path) == [], "empty and header-only members load 0 rows"


def _long_file(long_size: int, terminator: str = "\n") -> str:
    lines = [HEADER.strip()]
    lines += [f"s{i},q{i},2024-01-01T00:00:00Z" for i in range(1, 4)]
    lines.append(f's-long,"{"y" * (long_size // 2)}\n{"z" * (long_size // 2)}",2024-01-01')
    lines += [f"s{i},q{i},2024-01-01T00:00:00Z" for i in range(4, 7)]
    return terminator.join(lines) + terminator


@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
def test_an_over_long_row_is_rejected_with_its_first_bytes_and_the_rest_loads(
    tmp_path: Path, terminator: str
) -> None:
    path = make_zip(tmp_path, {"searches.csv": _long_file(5000, terminator)})
    rejected: list[RejectedRow] = []
    rows = read_rows(path, block_size=256, row_max_bytes=1000, on_rejected=rejected.append)
    assert [row["search_id"] for row in rows] == [f"s{i}" for i in range(1, 7)]
    (row,) = rejected
    assert row.line_number == 5
    assert row.raw_text.startswith('s-long,"yyy')
    assert len(row.raw_text) == 4096
    assert "over the limit of 1000 (ROW_MAX_BYTES)" in row.reason
    assert rows[-1]["query_expression"] == "q6"


def test_a_row_longer_than_the_block_but_within_the_limit_loads_whole(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {"searches.csv": _long_file(5000)})
    rows = read_rows(path, block_size=256, row_max_bytes=10_000)
    assert len(rows) == 7
    assert rows[3]["query_expression"] == "y" * 2500 + "\n" + "z" * 2500


def test_line_numbers_after_a_long_row_count_its_line_breaks(tmp_path: Path) -> None:
    text = _long_file(5000) + "s7,q,not-a-time\n"
    path = make_zip(tmp_path, {"searches.csv": text})
    rejected: list[RejectedRow] = []
    read_rows(path, block_size=256, row_max_bytes=1000, on_rejected=rejected.append)
    assert [row.line_number for row in rejected] == [5, 10]


def test_row_limit_below_the_block_size_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {"searches.csv": HEADER})
    with pytest.raises(ConfigurationError, match="row_max_bytes"):
        read_rows(path, block_size=4096, row_max_bytes=1000)


def test_invalid_utf8_is_repaired_in_text_and_rejected_in_identifiers_and_timestamps(
    tmp_path: Path,
) -> None:
    data = (
        HEADER.encode()
        + b"s1,caf\xe9,2024-01-01T00:00:00Z\n"
        + b"s2\xff,q,2024-01-01T00:00:00Z\n"
        + b"s3,q,2024-01-01T00:00:00\xffZ\n"
        + b"s4,\xc3,2024-01-01T00:00:00Z\n"
    )
    path = make_zip(tmp_path, {"searches.csv": data})
    rejected: list[RejectedRow] = []
    stats = ReadStats()
    rows = read_rows(path, on_rejected=rejected.append, stats=stats)
    assert [(row["search_id"], row["query_expression"]) for row in rows] == [
        ("s1", "caf\ufffd"),
        ("s4", "\ufffd"),
    ]
    assert stats.repaired_values == 2
    assert [(row.line_number, row.reason.split(":")[0]) for row in rejected] == [
        (3, "UTF-8 text column 'search_id'"),
        (4, "timestamp column 'datetime'"),
    ]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("block_size", [64, 1 << 20])
def test_a_malformed_row_with_invalid_utf8_is_rejected_not_fatal(
    tmp_path: Path, block_size: int
) -> None:
    data = HEADER.encode() + b"s1,q,\ns2,\xff,,extra\ns3,q,\n"
    path = make_zip(tmp_path, {"searches.csv": data})
    rejected: list[RejectedRow] = []
    rows = read_rows(path, block_size=block_size, on_rejected=rejected.append)
    assert [row["search_id"] for row in rows] == ["s1", "s3"]
    assert [(r.line_number, r.reason) for r in rejected] == [(3, "expected 3 fields, found 4")]
    assert rejected[0].raw_text == "s2,\ufffd,,extra"


def test_ordinary_files_never_take_the_record_by_record_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = "".join(f"s{i},query {i},2024-01-01T00:00:00Z\n" for i in range(20_000))
    path = make_zip(tmp_path, {"searches.csv": HEADER + body + _long_file(500).split("\n", 1)[1]})
    with caplog.at_level(logging.INFO, logger="coveo_ua_source"):
        batches = list(read_table(path, "searches", block_size=64 << 10))
    assert sum(batch.num_rows for batch in batches) == 20_007
    assert len(batches) > 1, "several blocks were read"
    assert not [r for r in caplog.records if "record by record" in r.getMessage()]
    with caplog.at_level(logging.INFO, logger="coveo_ua_source"):
        list(read_table(path, "searches", block_size=256))
    assert [r for r in caplog.records if "record by record" in r.getMessage()]
