"""A window's rejected custom dimension values are held in few chunks, whatever its batches."""

from __future__ import annotations

import pyarrow as pa

from coveo_ua_source.ingest.custom_dimensions import HeldRejected, empty_rejected


def _rejected(batch: int, rows: int) -> pa.Table:
    """A batch's rejected values as type_batch makes them: a chunk per column."""
    schema = empty_rejected().schema
    chunks = [
        pa.table(
            [
                pa.array([column] * rows),
                pa.array([f"b{batch}-{column}-{i}" for i in range(rows)]),
                pa.array(["n/a"] * rows),
                pa.array(["NUMBER"] * rows),
            ],
            schema=schema,
        )
        for column in ("c_price", "c_size")
    ]
    return pa.concat_tables(chunks)


def test_every_value_is_kept_in_order_in_few_chunks() -> None:
    held = HeldRejected(combine_every=32)
    added = [_rejected(batch, rows=batch % 3) for batch in range(1_000)]  # a third empty
    for rejected in added:
        held.add(rejected)
    tables = held.tables()
    expected = pa.concat_tables(added)
    assert pa.concat_tables([empty_rejected(), *tables]).equals(expected)
    chunks = sum(table["row_key"].num_chunks for table in tables)
    assert chunks <= 667 // 32 + 32 * 2  # 667 batches with rows, two chunks each
    assert expected["row_key"].num_chunks == 2_000, "held as added: a chunk per column"


def test_no_rows_no_tables() -> None:
    held = HeldRejected()
    for _ in range(100):
        held.add(empty_rejected())
    assert held.tables() == []
