"""Property-based tests of the reader: random valid and damaged CSV in both dialects.

Valid files are written with Python's csv module (random values with commas, quotes,
backslashes, line breaks and non-ASCII text; BOM or none; LF or CRLF; API-name,
display-name or snake_case headers in any casing) and read with block sizes small enough
that rows straddle blocks, which sends the reader down its record-by-record path. For every
file: only the connector's own errors are raised, loaded + rejected rows == data rows, and
the loaded rows are what the csv module reads from the same text (empty values are NULL;
a row with an empty identifier is the only one rejected). Damaged files (bytes inserted
or cut) raise nothing but ExportFileError, and EXCEL ones read the same whatever the block
size, as far as pyarrow itself does (see ``_comparable``).

Examples per test: bounded and derandomized by default; see tests/conftest.py.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coveo_ua_source.exceptions import ExportFileError
from coveo_ua_source.ingest.archive import ReadStats, RejectedRow, read_table

# (API name, display name, snake_case name): the identifier and three free-text columns.
COLUMNS = [
    ("searchId", "Search ID", "search_id"),
    ("queryExpression", "Query", "query_expression"),
    ("userName", "User Name", "user_name"),
    ("c_context_role", "c_context_role", "c_context_role"),
]
BLOCK_SIZES = [16, 64, 257, 1 << 20]
_TEXT = st.text(
    alphabet=st.sampled_from(list("ab ,\"\\'xé漢😀;\t")) | st.characters(codec="utf-8"),
    max_size=12,
).map(lambda text: text.replace("\0", ""))
# CRLF inside a value is left out: pyarrow's block reader drops its LF when a block ends
# between the CR and the LF (see the xfail test below).
_NEWLINES = st.sampled_from(["\n", "\r", "a\nb", "\n\n", "\n\r"])


@st.composite
def values(draw: st.DrawFn, export_format: str) -> str:
    text = draw(_TEXT)
    if export_format == "NO_NEWLINE":  # the format has no line breaks inside values
        return text.replace("\r", " ").replace("\n", " ")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(_NEWLINES) + text[cut:]
    return text.replace("\r\n", "\n")


@st.composite
def csv_files(draw: st.DrawFn, export_format: str) -> tuple[bytes, list[list[str]]]:
    """A CSV file's bytes and the data rows it was written from."""
    style = draw(st.sampled_from([0, 1, 2]))
    headers = [names[style] for names in COLUMNS]
    headers = [draw(st.sampled_from([h, h.upper(), h.lower()])) for h in headers]
    rows = draw(st.lists(st.lists(values(export_format), min_size=4, max_size=4), max_size=12))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    quote_all = draw(st.booleans())  # quote every field, or only those that need it
    lines = [_record(row, export_format, quote_all) for row in [headers, *rows]]
    text = terminator.join(lines)
    if not rows or draw(st.booleans()):
        text += terminator  # else no line break at the end
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode("utf-8"), rows


def _record(values: list[str], export_format: str, quote_all: bool) -> str:
    """One CSV record, the way each dialect quotes (see csvwriter in the simulator)."""
    special = ',"\\' if export_format == "NO_NEWLINE" else ',"\r\n'
    fields = []
    for value in values:
        if not quote_all and not any(char in special for char in value):
            fields.append(value)
        elif export_format == "NO_NEWLINE":
            fields.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            fields.append('"' + value.replace('"', '""') + '"')
    return ",".join(fields)


def _zip(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("searches.csv", data)
    return path


def _read(path: Path, export_format: str, block_size: int) -> tuple[list[Any], list[Any]]:
    rejected: list[RejectedRow] = []
    batches = read_table(
        path,
        "searches",
        export_format=export_format,  # type: ignore[arg-type]
        block_size=block_size,
        on_rejected=rejected.append,
        stats=ReadStats(),
    )
    rows = [row for batch in batches for row in batch.to_pylist()]
    return rows, [(r.line_number, r.reason) for r in rejected]


def _python_csv_rows(data: bytes, export_format: str) -> list[list[str]]:
    dialect: dict[str, Any] = {}
    if export_format == "NO_NEWLINE":
        dialect = {"doublequote": False, "escapechar": "\\"}
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), **dialect))[1:]


def _expected(rows: list[list[str]]) -> list[dict[str, str | None]]:
    names = [snake for _, _, snake in COLUMNS]
    return [
        {name: value or None for name, value in zip(names, row, strict=True)}
        for row in rows
        if row[0]
    ]


def _check_valid(tmp_path: Path, data: bytes, rows: list[list[str]], fmt: str) -> None:
    parsed = _python_csv_rows(data, fmt)
    assert parsed == rows, "the csv module reads back what it wrote"
    path = _zip(tmp_path, data)
    for block_size in BLOCK_SIZES:
        loaded, rejected = _read(path, fmt, block_size)
        assert len(loaded) + len(rejected) == len(rows), block_size
        assert loaded == _expected(parsed), block_size
        assert all("identifier 'search_id' is empty" in reason for _, reason in rejected)


@given(csv_files("EXCEL"))
def test_valid_excel_files_load_what_the_csv_module_reads(
    tmp_path_factory: Any, file: tuple[bytes, list[list[str]]]
) -> None:
    _check_valid(tmp_path_factory.mktemp("p"), *file, "EXCEL")


@given(csv_files("NO_NEWLINE"))
def test_valid_no_newline_files_load_what_the_csv_module_reads(
    tmp_path_factory: Any, file: tuple[bytes, list[list[str]]]
) -> None:
    _check_valid(tmp_path_factory.mktemp("p"), *file, "NO_NEWLINE")


@st.composite
def damaged(draw: st.DrawFn) -> tuple[bytes, str]:
    export_format = draw(st.sampled_from(["EXCEL", "NO_NEWLINE"]))
    data, _rows = draw(csv_files(export_format))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            junk = draw(st.sampled_from([b'"', b",", b"\n", b"\r", b"\\", b"\xff", b"\xc3", b""]))
            data = data[:position] + junk + data[position:]
        else:
            data = data[:position] + data[position + draw(st.integers(1, 5)) :]
    return data, export_format


def _comparable(outcome: tuple[Any, ...], data: bytes, export_format: str) -> tuple[Any, ...]:
    """What must not depend on the block size, given what pyarrow itself gets right.

    NO_NEWLINE: pyarrow's block chunker splits at every line break, its parser does not
    (a damaged quote spanning lines), so only "no crash" is compared. EXCEL: a CR next to
    a quoted LF can lose the LF at a block boundary (the xfail test below), so with a CR
    in the file only the counts are compared.
    """
    if outcome[0] == "error" or export_format == "NO_NEWLINE":
        return ("read",)
    if b"\r" in data:
        return ("counts", len(outcome[1]) + len(outcome[2]))
    return outcome


# pyarrow cannot hand a malformed row with invalid UTF-8 to the row handler: it reports the
# UnicodeDecodeError as unraisable and fails the block, which the reader then reads again
# record by record (the row is rejected). The report is expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@given(damaged())
def test_damaged_files_raise_only_export_file_errors_and_read_alike_in_any_block_size(
    tmp_path_factory: Any, file: tuple[bytes, str]
) -> None:
    data, export_format = file
    path = _zip(tmp_path_factory.mktemp("p"), data)
    outcomes = []
    for block_size in BLOCK_SIZES:
        try:
            loaded, rejected = _read(path, export_format, block_size)
        except ExportFileError as error:
            outcomes.append(("error", type(error).__name__))
            continue
        assert all(row.get("search_id", "no such column") for row in loaded)
        physical_lines = data.count(b"\n") + data.count(b"\r") + 1
        assert len(loaded) + len(rejected) <= physical_lines
        outcomes.append(("rows", loaded, [reason for _, reason in rejected]))
    compared = [_comparable(outcome, data, export_format) for outcome in outcomes]
    assert all(outcome == compared[-1] for outcome in compared), outcomes


@pytest.mark.xfail(reason="pyarrow 26 block reader drops the LF of a quoted CRLF split by a block")
def test_crlf_inside_a_quoted_value_survives_every_block_boundary(tmp_path: Path) -> None:
    data = b'searchId,queryExpression\nx,y\na,"b\r\nc"\n'
    path = _zip(tmp_path, data)
    values = {
        block_size: [row["query_expression"] for row in _read(path, "EXCEL", block_size)[0]]
        for block_size in range(8, 40)
    }
    assert all(found == ["y", "b\r\nc"] for found in values.values()), values
