"""A run's custom dimension types, and the ``_coveo_ua_rejected_values`` table.

``DimensionTypes`` asks ``/v15/dimensions/exportables`` once per run, on first use in the
extract step (never when the source is only created). If that call fails the run goes on:
one warning, and each ``c_*`` column keeps the type it was already loaded with (text when
it was never loaded), so a passing outage never changes a column.

``_coveo_ua_rejected_values``: every custom dimension value that did not parse as its type
(the row is loaded with NULL there), with its table, window, export, column, the row's
primary key as JSON, the raw text and the expected Coveo type. Like
``_coveo_ua_rejected_rows``, a window loaded again replaces its rows. A window's rows go
to dlt as one Arrow table, so they are loaded from Parquet in bulk: a window can reject
many values (a dimension whose type Coveo reports wrong rejects every one).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dlt
import pyarrow as pa

from coveo_ua_source import settings
from coveo_ua_source.dlt_internals import (
    CurrentSourceSchemaNotAvailable,
    DataItemWithMeta,
    TColumnSchema,
    new_table,
)
from coveo_ua_source.exceptions import CoveoUAError
from coveo_ua_source.exports.types import ReadyExport
from coveo_ua_source.ingest.custom_dimensions import (
    Dimension,
    TypedBatch,
    column_types,
    empty_rejected,
    parse_exportables,
    type_batch,
)
from coveo_ua_source.schema import COVEO_TYPES, TTable, column_hints
from coveo_ua_source.warehouse.bookkeeping import window_replaced_hints, window_replaced_table

logger = logging.getLogger(__name__)

REJECTED_VALUES_TABLE = "_coveo_ua_rejected_values"
_REJECTED_VALUES_HINTS = window_replaced_hints(
    REJECTED_VALUES_TABLE,
    {
        "column_name": {"data_type": "text"},
        "row_key": {"data_type": "text"},
        "raw_text": {"data_type": "text"},
        "expected_type": {"data_type": "text"},
    },
)


class DimensionTypes:
    """The exportable dimensions of one run, fetched at most once."""

    def __init__(self, fetch: Callable[[], list[dict[str, Any]]]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._asked = False
        self._dimensions: list[Dimension] | None = None

    def dimensions(self) -> list[Dimension] | None:
        """The service's dimensions, or None when ``exportables`` failed (warned once)."""
        with self._lock:
            if not self._asked:
                self._asked = True
                self._dimensions = self._ask()
            return self._dimensions

    def typer(self, table: str, loaded_types: Mapping[str, str]) -> BatchTyper:
        """Types ``table``'s batches; ``loaded_types``: its columns' dlt types already loaded."""
        dimensions = self.dimensions()
        if dimensions is None:
            types = _fallback_types(loaded_types)
        else:
            types = column_types(dimensions, table)
            _warn_of_changed_types(table, types, loaded_types)
        return BatchTyper(types, loaded_types, _descriptions(dimensions or [], table))

    def _ask(self) -> list[Dimension] | None:
        try:
            return parse_exportables(self._fetch())
        except CoveoUAError as error:
            logger.warning(
                "could not read the custom dimension types (/v15/dimensions/exportables): "
                "%s; this run loads c_* columns with the types they already have, new ones "
                "as text",
                error,
            )
            return None


class BatchTyper:
    """Casts one table's batches with the run's custom dimension types, and describes them."""

    def __init__(
        self, types: Mapping[str, str], loaded: Mapping[str, str], custom: Mapping[str, str]
    ) -> None:
        self.types, self._loaded, self._custom = types, loaded, custom
        self._described: set[str] = set()

    def apply(self, batch: pa.RecordBatch, key_columns: Sequence[str]) -> TypedBatch:
        return type_batch(batch, self.types, key_columns, self._loaded)

    def describe(self, table: TTable, names: Sequence[str]) -> None:
        """Give the columns ``names`` not described yet in this run their descriptions.

        They are written into the schema being extracted rather than given as resource
        hints, which the bookkeeping tables (table variants of the resource) would inherit.
        """
        new = [name for name in names if name not in self._described]
        if not new:
            return
        self._described.update(new)
        known = column_hints(table)
        describe_columns(table, {name: _description(name, known, self._custom) for name in new})


def describe_columns(table: str, descriptions: Mapping[str, str]) -> None:
    """Give columns of ``table`` descriptions in the schema being extracted (dlt hints)."""
    if not descriptions:
        return
    columns: list[TColumnSchema] = [
        {"name": name, "description": text} for name, text in descriptions.items()
    ]
    schema = dlt.current.source_schema()
    schema.update_table(new_table(table, columns=columns), normalize_identifiers=True)


def loaded_column_types(table: str) -> dict[str, str]:
    """dlt data type of each column of ``table`` in the pipeline's schema (lower-cased)."""
    try:
        schema = dlt.current.source_schema()
    except CurrentSourceSchemaNotAvailable:  # outside an extract step: nothing loaded
        return {}
    columns = schema.tables.get(table, {}).get("columns", {})
    return {
        name.lower(): str(column["data_type"])
        for name, column in columns.items()
        if column.get("data_type") is not None
    }


def rejected_values_item(
    table: str, ready: ReadyExport, rejected: Sequence[pa.Table]
) -> DataItemWithMeta:
    """This window's ``_coveo_ua_rejected_values`` rows (maybe none), replacing earlier ones.

    ``rejected``: the ``TypedBatch.rejected`` tables of the window's batches.
    """
    values = pa.concat_tables([empty_rejected(), *rejected])
    if values.num_rows:
        first = values.slice(0, 1).to_pylist()[0]
        logger.warning(
            "%s %s: %d custom dimension value(s) did not parse and load as NULL; kept in %s, "
            "e.g. %s=%r (%s)",
            table, ready.window, values.num_rows, REJECTED_VALUES_TABLE, first["column_name"],
            first["raw_text"], first["expected_type"], extra=settings.IN_RUN_SUMMARY,
        )  # fmt: skip
    return window_replaced_table(table, ready, values, _REJECTED_VALUES_HINTS)


def _warn_of_changed_types(table: str, types: Mapping[str, str], loaded: Mapping[str, str]) -> None:
    for name, coveo_type in sorted(types.items()):
        kept = COVEO_TYPES.get(loaded.get(name, ""))
        if kept is not None and kept != coveo_type:
            logger.warning(
                "%s.%s was loaded as %s but Coveo now reports %s: it stays %s, and values "
                "that are not %s go to %s",
                table, name, kept, coveo_type, kept, kept, REJECTED_VALUES_TABLE,
            )  # fmt: skip


def _fallback_types(loaded: Mapping[str, str]) -> dict[str, str]:
    return {
        name: COVEO_TYPES[data_type]
        for name, data_type in loaded.items()
        if name.startswith("c_") and "__v_" not in name and data_type in COVEO_TYPES
    }


def _description(name: str, known: Mapping[str, str], custom: Mapping[str, str]) -> str:
    base = name.lower().split("__v_")[0]  # a variant column describes its column
    found = custom.get(base) or known.get(base)
    return found or f"{name}: a column of the Coveo export that the connector does not know"


def _descriptions(dimensions: Sequence[Dimension], table: str) -> dict[str, str]:
    types = column_types(dimensions, table)
    return {
        d.column: f"{d.display_name}: custom dimension, {types[d.column]} in Coveo"
        for d in dimensions
        if d.column in types and d.table in (None, table)
    }
