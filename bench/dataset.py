"""The benchmark's data: one export zip written by the simulator's generator.

The simulator's rows are a pure function of (seed, searches_per_hour, UTC hour) and its
``bad_dimension_rate``, so a simulator process started with the same settings serves exactly
these rows for the same range (bench.run checks the CRCs of the zip it serves against this
one). The benchmark's rate of custom dimension values that do not parse is a realistic low
one (``REALISTIC_BAD_RATE``); the simulator's default, about one in five, is what tests use
to exercise rejected values, and ``--high-rate`` measures it too.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coveo_ua_simulator import SimulatorConfig, write_export_zip
from coveo_ua_simulator.truth import count_rows, to_ms
from coveo_ua_source.ingest.archive import table_members

START = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_SEARCHES_PER_HOUR = 50_000
MIN_SEARCHES_PER_HOUR = 100
# High enough that the simulator never refuses the single big export of case (a).
ROW_LIMIT = 1_000_000_000
# One custom dimension value in a thousand does not parse: Coveo types the exports itself.
REALISTIC_BAD_RATE = 0.001


@dataclass(frozen=True)
class Dataset:
    """A generated export zip: its range, the simulator settings and rows per table."""

    zip_path: Path
    start: datetime
    end: datetime
    searches_per_hour: int
    rows: dict[str, int]
    generate_s: float
    zip_bytes: int
    csv_bytes: int
    bad_dimension_rate: float | None = REALISTIC_BAD_RATE

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def config(self) -> SimulatorConfig:
        return sim_config(self.searches_per_hour, bad_dimension_rate=self.bad_dimension_rate)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(zip_path=str(self.zip_path), start=self.start.isoformat())
        out.update(end=self.end.isoformat(), total_rows=self.total_rows)
        return out


def sim_config(searches_per_hour: int, **overrides: Any) -> SimulatorConfig:
    """The simulator settings of the benchmark data (seed and token left at defaults)."""
    return SimulatorConfig(searches_per_hour=searches_per_hour, row_limit=ROW_LIMIT, **overrides)


def searches_per_hour_for(rows: int) -> int:
    """50,000 searches an hour for a million searches; fewer for small runs (>= 5 hours)."""
    return max(MIN_SEARCHES_PER_HOUR, min(MAX_SEARCHES_PER_HOUR, rows // 20))


def time_range(rows: int, searches_per_hour: int) -> tuple[datetime, datetime]:
    """Whole hours from START until at least ``rows`` searches (counted without building)."""
    cfg = sim_config(searches_per_hour)
    end, total = START, 0
    while total < rows:
        total += count_rows(cfg, "searches", (to_ms(end), to_ms(end + HOUR)))
        end += HOUR
    return START, end


def generate(
    path: Path, rows: int, bad_dimension_rate: float | None = REALISTIC_BAD_RATE
) -> Dataset:
    """Write the export zip of about ``rows`` searches (and their other tables) to ``path``.

    ``bad_dimension_rate``: ``SimulatorConfig.bad_dimension_rate`` (None: about 1 in 5).
    """
    per_hour = searches_per_hour_for(rows)
    start, end = time_range(rows, per_hour)
    return _write(path, per_hour, start, end, bad_dimension_rate)


def generate_day(path: Path, rows: int) -> Dataset:
    """One UTC day (START) of about ``rows`` searches: what a daily run exports."""
    return _write(path, max(1, round(rows / 24)), START, START + DAY, REALISTIC_BAD_RATE)


def _write(
    path: Path, per_hour: int, start: datetime, end: datetime, bad_dimension_rate: float | None
) -> Dataset:
    path.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    config = sim_config(per_hour, bad_dimension_rate=bad_dimension_rate)
    written = write_export_zip(path, config, start, end)
    seconds = time.perf_counter() - began
    with zipfile.ZipFile(path) as archive:
        csv_bytes = sum(info.file_size for info in archive.infolist())
    return Dataset(
        path, start, end, per_hour, dict(written), round(seconds, 3), path.stat().st_size,
        csv_bytes, bad_dimension_rate,
    )  # fmt: skip


def extract_csvs(zip_path: Path, destination: Path) -> dict[str, str]:
    """Extract each table's CSV (one member per table) to ``destination``; paths by table."""
    destination.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    with zipfile.ZipFile(zip_path) as archive:
        for table, members in table_members(zip_path).items():
            if len(members) != 1:
                raise ValueError(f"{zip_path}: expected one member for {table}, got {members}")
            target = destination / f"{table}.csv"
            with archive.open(members[0]) as source, target.open("wb") as out:
                while chunk := source.read(1 << 22):
                    out.write(chunk)
            paths[table] = str(target)
    return paths


def member_crcs(zip_path: Path) -> dict[str, tuple[int, int]]:
    """CRC-32 and size of every member: equal for two zips of the same rows."""
    with zipfile.ZipFile(zip_path) as archive:
        return {info.filename: (info.CRC, info.file_size) for info in archive.infolist()}
