"""Backfill a fixed historical range, then let the incremental pipeline carry on.

    python backfill.py --start-date 2023-01-01 --end-date 2024-01-01 \
        --tables searches,clicks --window P7D

It uses the same pipeline name, destination and dataset as coveo_ua_pipeline.py (beside
it), so once the backfill is done the incremental job continues from --end-date. Larger
windows mean fewer exports; the source splits any window whose export fails or exceeds
the org's row limit. To split one large backfill across workers, give each worker a
disjoint date range, --partition, its own --pipeline-name and the same dataset: a
partition loads exactly its range without reading or moving any incremental position,
and merge keys keep the tables free of duplicates.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import dlt
from coveo_ua_pipeline import dataset_name, destination

from coveo_ua_source import run_load


def backfill(
    start_date: str,
    end_date: str,
    tables: Sequence[str] | None = None,
    window: str = "P7D",
    pipeline_name: str = "coveo_ua",
    max_concurrent_exports: int = 3,
    partition: bool = False,
) -> dict[str, Any]:
    """Load [start_date, end_date) for the chosen tables in `window`-sized exports."""
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination(),
        dataset_name=dataset_name(),
        progress="log",
    )
    # Runs into the same dataset take turns: partitions started at once build their
    # exports in parallel and load one after another.
    return run_load(
        pipeline,
        start_date=start_date,
        end_date=end_date,
        tables=tables,
        window=window,
        max_concurrent_exports=max_concurrent_exports,
        partition=partition,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start-date", required=True)
    parser.add_argument("--end-date", required=True)
    parser.add_argument("--tables", help="comma-separated, default all")
    parser.add_argument("--window", default="P7D")
    parser.add_argument("--pipeline-name", default="coveo_ua")
    parser.add_argument("--max-concurrent-exports", type=int, default=3)
    parser.add_argument(
        "--partition", action="store_true", help="load exactly the range; leave state alone"
    )
    args = parser.parse_args(argv)
    summary = backfill(
        args.start_date,
        args.end_date,
        args.tables.split(",") if args.tables else None,
        args.window,
        args.pipeline_name,
        args.max_concurrent_exports,
        args.partition,
    )
    print(summary)


if __name__ == "__main__":
    main()
