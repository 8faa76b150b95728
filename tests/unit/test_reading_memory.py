"""The CSV reader parses into jemalloc's pool, unless the user chose pyarrow's allocator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from helpers.zips import make_zip

from coveo_ua_source.ingest import reading_memory
from coveo_ua_source.ingest.archive import read_table

jemalloc = pytest.mark.skipif(
    "jemalloc" not in pa.supported_memory_backends(), reason="this pyarrow has no jemalloc"
)


@pytest.fixture(autouse=True)
def _fresh_choice() -> Iterator[None]:
    reading_memory.reading_pool.cache_clear()
    yield
    reading_memory.reading_pool.cache_clear()


@jemalloc
def test_the_reader_parses_into_jemalloc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pool = reading_memory.reading_pool()
    assert pool.backend_name == "jemalloc"
    rows = "".join(f"s{n},query number {n}\n" for n in range(20_000))
    path = make_zip(tmp_path, {"searches.csv": "searchId,queryExpression\n" + rows})
    before = pool.bytes_allocated()
    batches = list(read_table(path, "searches"))
    assert sum(batch.num_rows for batch in batches) == 20_000
    assert pool.bytes_allocated() - before > 100_000, "the batches' memory is jemalloc's"


def test_an_allocator_the_user_chose_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    assert reading_memory.reading_pool().backend_name == pa.default_memory_pool().backend_name
