"""Scalars built from their bytes equal the ones pyarrow converts from Python values."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coveo_ua_source.ingest import arrow_literals

MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(st.text())
def test_text(value: str) -> None:
    assert arrow_literals.text(value).equals(pa.scalar(value, pa.string()))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integer(value: int) -> None:
    assert arrow_literals.integer(value).equals(pa.scalar(value, pa.int64()))


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1)))
def test_integers(values: list[int]) -> None:
    assert arrow_literals.integers(values).equals(pa.array(values, pa.int64()))


@pytest.mark.parametrize("value", [True, False])
def test_boolean(value: bool) -> None:
    assert arrow_literals.boolean(value).equals(pa.scalar(value, pa.bool_()))


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@given(moment=MOMENTS)
def test_timestamp_truncates_to_the_unit_as_pyarrow_does(unit: str, moment: datetime) -> None:
    timestamp_type = pa.timestamp(unit, tz="UTC")
    if unit == "ns" and not datetime(1678, 1, 1, tzinfo=UTC) < moment < datetime(
        2262, 1, 1, tzinfo=UTC
    ):
        return  # outside int64 nanoseconds
    expected = pa.array([moment], pa.timestamp("us", tz="UTC")).cast(timestamp_type, safe=False)
    assert arrow_literals.timestamp(moment, timestamp_type).equals(expected[0])


def test_null() -> None:
    assert arrow_literals.null(pa.string()).equals(pa.scalar(None, pa.string()))
    assert not arrow_literals.null(pa.int64()).is_valid


@pytest.mark.parametrize(
    "values", [[], ["a", None, "é€😀", ""], [None] * 9, ["x"] * 17, [None, "line\nbreak"]]
)
def test_texts_are_the_string_array_of_the_values(values: list[str | None]) -> None:
    built = arrow_literals.texts(values)
    built.validate(full=True)
    assert built.type == pa.string()
    assert built.to_pylist() == values


@pytest.mark.parametrize("data_type", [pa.int8(), pa.int32(), pa.int64(), pa.uint16()])
def test_zero_of_an_integer_type(data_type: pa.DataType) -> None:
    zero = arrow_literals.zero(data_type)
    assert zero.type == data_type
    assert zero.as_py() == 0


@pytest.mark.parametrize("values", [[], [True], [False, True, True] * 5, [False] * 9])
def test_booleans_are_the_boolean_array_of_the_values(values: list[bool]) -> None:
    built = arrow_literals.booleans(values)
    built.validate(full=True)
    assert built.to_pylist() == values
