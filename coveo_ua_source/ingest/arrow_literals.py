"""Arrow scalars built from their bytes instead of converted from Python values.

pyarrow imports pandas the first time it converts a Python value (``pa.scalar``,
``pa.array`` of a list, a Python literal passed to a compute function, a timestamp's
``as_py``), to recognise pandas' own types. Nothing else in a run needs pandas: the
import costs about a quarter of a second and 40 MB of every run, and once pandas is
loaded each conversion checks its values against pandas' types too. The reading path
builds the few scalars it compares with here. Pure: no I/O.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache

import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A timestamp unit's ticks per microsecond, as (multiply by, divide by).
_TICKS_PER_MICROSECOND = {"s": (1, 10**6), "ms": (1, 1000), "us": (1, 1), "ns": (1000, 1)}


def text(value: str) -> pa.StringScalar:
    """``value`` as a string scalar."""
    data = value.encode()
    offsets = struct.pack("=ii", 0, len(data))
    array = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    return array[0]


def boolean(value: bool) -> pa.BooleanScalar:
    """``value`` as a boolean scalar."""
    return _fixed_width(pa.bool_(), bytes([value]))


def integer(value: int) -> pa.Int64Scalar:
    """``value`` as an int64 scalar."""
    return _fixed_width(pa.int64(), struct.pack("=q", value))


def timestamp(moment: datetime, timestamp_type: pa.TimestampType) -> pa.TimestampScalar:
    """``moment`` (timezone-aware) as a scalar of ``timestamp_type``, truncated to its unit."""
    times, divisor = _TICKS_PER_MICROSECOND[timestamp_type.unit]
    ticks = (moment - _EPOCH) // timedelta(microseconds=1) * times
    whole = abs(ticks) // divisor  # toward zero, as pyarrow's cast truncates
    return _fixed_width(timestamp_type, struct.pack("=q", whole if ticks >= 0 else -whole))


def integers(values: Sequence[int]) -> pa.Int64Array:
    """``values`` as an int64 array."""
    data = array("q", values)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def texts(values: Sequence[str | None]) -> pa.StringArray:
    """``values`` as a string array (None as null)."""
    data = bytearray()
    offsets = array("i", [0])
    valid = bytearray((len(values) + 7) // 8)
    for index, value in enumerate(values):
        if value is not None:
            data += value.encode()
            valid[index // 8] |= 1 << (index % 8)
        offsets.append(len(data))
    buffers = [pa.py_buffer(valid), pa.py_buffer(offsets), pa.py_buffer(bytes(data))]
    return pa.Array.from_buffers(pa.string(), len(values), buffers)


def booleans(values: Sequence[bool]) -> pa.BooleanArray:
    """``values`` as a boolean array."""
    bits = bytearray((len(values) + 7) // 8)
    for index, value in enumerate(values):
        if value:
            bits[index // 8] |= 1 << (index % 8)
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bytes(bits))])


def zero(data_type: pa.DataType) -> pa.Scalar:
    """The zero of the integer type ``data_type``."""
    return _fixed_width(data_type, bytes(data_type.bit_width // 8))


@cache
def null(data_type: pa.DataType) -> pa.Scalar:
    """The null of ``data_type``."""
    return pa.nulls(1, data_type)[0]


def _fixed_width(data_type: pa.DataType, value: bytes) -> pa.Scalar:
    return pa.Array.from_buffers(data_type, 1, [None, pa.py_buffer(value)])[0]


__all__ = [
    "boolean",
    "booleans",
    "integer",
    "integers",
    "null",
    "text",
    "texts",
    "timestamp",
    "zero",
]
