"""Case (d), the naive path: csv.DictReader rows through dlt resources into DuckDB.

The same zip and the same hints as the source (merge with delete-insert, primary keys),
but every row a Python dict of strings that dlt normalizes one by one. It reads only the
first ``1 / fraction`` of each table's rows; bench.run extrapolates the time linearly.

Files are Parquet (``loader_file_format``), as in the measurements of dlt-notes.md: DuckDB's
default, ``insert_values``, is several times slower still and its load step needs about
1 GB of RSS even at 36k rows, which would measure SQL text parsing rather than dict rows.
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from collections.abc import Iterator
from pathlib import Path

import dlt

from bench.common import Result, Spec, case_main, new_pipeline, staged_run
from coveo_ua_source.ingest.archive import table_members
from coveo_ua_source.schema import TTable, primary_key


def dict_rows(zip_path: Path, member: str, limit: int) -> Iterator[dict[str, str]]:
    """The first ``limit`` rows of a zip member as dicts keyed by the header."""
    with zipfile.ZipFile(zip_path) as archive, archive.open(member) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        yield from itertools.islice(csv.DictReader(text), limit)


def run(spec: Spec) -> Result:
    zip_path = Path(spec["zip_path"])
    limits: dict[TTable, int] = spec["limits"]
    members = table_members(zip_path)
    resources = [
        dlt.resource(
            dict_rows(zip_path, members[table][0], limit),
            name=table,
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            primary_key=list(primary_key(table)),
        )
        for table, limit in limits.items()
    ]
    pipeline = new_pipeline(Path(spec["workdir"]), "bench_dicts")
    file_format = spec.get("loader_file_format", "parquet")
    result = staged_run(pipeline, resources, loader_file_format=file_format)
    return {**result, "loader_file_format": file_format}


if __name__ == "__main__":
    case_main(run)
