"""One parsed batch typed to the output schema, in memory: no zip, no CSV parser."""

from __future__ import annotations

import pyarrow as pa

from coveo_ua_source.ingest.batch_conversion import BatchConverter, ReadStats
from coveo_ua_source.ingest.headers import arrow_schema

HEADERS = ["searchId", "numberOfResults", "queryExpression"]


def raw_batch(*columns: list[bytes | None]) -> pa.RecordBatch:
    """What pyarrow's CSV reader hands over: every column binary, empty fields NULL."""
    names = [f"f{index}" for index in range(len(columns))]
    return pa.RecordBatch.from_arrays([pa.array(c, pa.binary()) for c in columns], names)


def converter(stats: ReadStats | None = None) -> BatchConverter:
    return BatchConverter(arrow_schema("searches", HEADERS), "EXCEL", stats or ReadStats())


def test_clean_rows_take_the_catalog_types() -> None:
    batch = raw_batch([b"s1", b"s2"], [b"5", b"12"], [b"shoes", None])
    typed = converter()
    arrays, rejected = typed.convert(batch)
    assert rejected == {}
    out = typed.assemble(batch, arrays, rejected)
    assert out.schema.field("number_of_results").type == pa.int64()
    assert out.to_pylist() == [
        {"search_id": "s1", "number_of_results": 5, "query_expression": "shoes"},
        {"search_id": "s2", "number_of_results": 12, "query_expression": None},
    ]


def test_bad_values_and_empty_identifiers_are_named_and_left_out() -> None:
    batch = raw_batch([b"s1", None, b"s3"], [b"5", b"7", b"many"], [b"a", b"b", b"c"])
    typed = converter()
    arrays, rejected = typed.convert(batch)
    assert rejected == {
        1: (",7,b", "the identifier 'search_id' is empty"),
        2: ("s3,many,c", "bigint column 'number_of_results': bad value 'many'"),
    }
    out = typed.assemble(batch, arrays, rejected)
    assert out.to_pylist() == [
        {"search_id": "s1", "number_of_results": 5, "query_expression": "a"},
    ]


def test_invalid_utf8_in_text_is_repaired_and_counted_not_rejected() -> None:
    stats = ReadStats()
    batch = raw_batch([b"s1", b"s2"], [b"1", b"2"], [b"caf\xe9", b"ok"])
    typed = converter(stats)
    arrays, rejected = typed.convert(batch)
    assert rejected == {}
    assert typed.assemble(batch, arrays, rejected).column(2).to_pylist() == ["caf\ufffd", "ok"]
    assert stats.repaired_values == 1
