"""The allocator the CSV reader parses into, and giving its memory back.

pyarrow's default allocator (mimalloc in its wheels) keeps much of what the reader frees
for reuse: a day's run of five tables read at once peaked about 20 MB higher with it than
with jemalloc, which returns freed pages sooner, at the same speed (docs/performance.md).
The reader alone uses jemalloc, so the process's default allocator stays pyarrow's own,
and ``ARROW_DEFAULT_MEMORY_POOL``, pyarrow's setting, still decides when it is set.
"""

from __future__ import annotations

import os
from functools import cache

import pyarrow as pa


@cache
def reading_pool() -> pa.MemoryPool:
    """jemalloc where this pyarrow has it and no allocator was chosen; else the default."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return pa.default_memory_pool()
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        return pa.default_memory_pool()


def release_read_memory() -> None:
    """Give back to the system what the allocators kept of the reading: once every file is
    read, the load step (DuckDB) needs the room."""
    reading_pool().release_unused()
    pa.default_memory_pool().release_unused()


__all__ = ["reading_pool", "release_read_memory"]
