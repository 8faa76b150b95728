"""The loaded rows of a benchmark run against the simulator's ground truth.

Per table: the row count, the set of row identifiers (none missing, none extra, none
twice) and the sum of the rows' timestamps, from the simulator's own rows
(``coveo_ua_simulator.truth``) on one side and the DuckDB file of the run on the other.
It runs in bench.run's process, after the case's process has ended: its memory and time
are not the case's.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from bench.common import DATA_TABLES, DATASET
from coveo_ua_simulator import SimulatorConfig
from coveo_ua_simulator.data import FIELDS
from coveo_ua_simulator.truth import iter_column_batches, to_ms
from coveo_ua_source.schema import IDENTIFIERS, snake_case

# Timestamp styles whose CSV text drops the milliseconds (see truth.ground_truth).
_SECONDS_ONLY = ("iso_z_no_ms", "space")


class TruthCheck:
    """Compares a run's DuckDB file with the ground truth of ``[start, end)``."""

    def __init__(self, config: SimulatorConfig, start: datetime, end: datetime) -> None:
        self.config, self.span = config, (to_ms(start), to_ms(end))
        self._truth: dict[str, pa.Table] = {}

    def __call__(self, database: Path) -> dict[str, Any]:
        tables: dict[str, Any] = {}
        with duckdb.connect(str(database), read_only=True) as con:
            for table in DATA_TABLES:
                tables[table] = self._compare(con, table)
        ok = all(found["ok"] for found in tables.values())
        return {"ok": ok, "tables": tables}

    def _compare(self, con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
        truth = self.truth(table)  # noqa: F841  # read by DuckDB by its name
        keys = ", ".join(snake_case(name) for name in IDENTIFIERS[table])  # type: ignore[index]
        loaded = f"{DATASET}.{table}"
        missing_keys = f"SELECT {keys} FROM truth EXCEPT SELECT {keys} FROM {loaded}"  # noqa: S608
        extra_keys = f"SELECT {keys} FROM {loaded} EXCEPT SELECT {keys} FROM truth"  # noqa: S608
        counts = con.execute(
            f"SELECT (SELECT count(*) FROM {loaded}), "  # noqa: S608  # names are ours
            f"(SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {loaded})), "
            f"(SELECT count(*) FROM ({missing_keys})), (SELECT count(*) FROM ({extra_keys})), "
            f"(SELECT sum(epoch_ms(datetime)) FROM {loaded}), "
            "(SELECT count(*) FROM truth), (SELECT sum(datetime_ms) FROM truth)"
        ).fetchall()[0]
        rows, distinct, missing, extra, loaded_ms, truth_rows, truth_ms = counts
        ok = rows == distinct == truth_rows and not missing and not extra and loaded_ms == truth_ms
        return {
            "ok": ok, "rows": rows, "truth_rows": truth_rows, "duplicates": rows - distinct,
            "missing": missing, "extra": extra, "timestamps_equal": loaded_ms == truth_ms,
        }  # fmt: skip

    def truth(self, table: str) -> pa.Table:
        """The identifiers and timestamps (epoch ms) of the table's true rows, made once."""
        if table not in self._truth:
            self._truth[table] = self._build(table)
        return self._truth[table]

    def _build(self, table: str) -> pa.Table:
        fields = FIELDS[table]  # type: ignore[index]
        names = IDENTIFIERS[table]  # type: ignore[index]
        at = fields.index("datetime")
        columns: dict[str, list[Any]] = {snake_case(name): [] for name in names}
        stamps: list[int] = []
        for batch in iter_column_batches(self.config, table, self.span):  # type: ignore[arg-type]
            for name in names:
                columns[snake_case(name)] += batch[fields.index(name)]
            stamps += batch[at]
        if self.config.timestamp_style in _SECONDS_ONLY:
            stamps = [ms - ms % 1000 for ms in stamps]
        return pa.table({**columns, "datetime_ms": pa.array(stamps, pa.int64())})
