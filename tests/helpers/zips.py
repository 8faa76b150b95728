"""Zips built from hand-written CSV text, and read back with the reader."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from coveo_ua_source.ingest.archive import read_table
from coveo_ua_source.schema import TTable


def make_zip(
    tmp_path: Path,
    members: Mapping[str, str | bytes],
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, content in members.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            archive.writestr(name, data)
    return path


def read_rows(path: Path, table: str = "searches", **options: Any) -> list[dict[str, Any]]:
    return [row for batch in read_batches(path, table, **options) for row in batch.to_pylist()]


def read_batches(path: Path, table: str = "searches", **options: Any) -> list[pa.RecordBatch]:
    return list(read_table(path, cast(TTable, table), **options))
