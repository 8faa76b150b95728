"""The simulator's configuration: one frozen dataclass, every field with a default."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

TTimestampStyle = Literal["iso_z", "iso_z_no_ms", "space_ms", "space"]
THeaderCase = Literal["api", "mixed"]
TEmptyTable = Literal["header", "empty", "absent"]


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated Coveo UA service behaves.

    token: the bearer token that may do everything.
    view_only_token: a token that may GET but whose creates and deletes answer 403
        (None: no such token).
    org_id: when set, every API call must carry ``org=<org_id>`` or it answers 403.
    seed: rows are a pure function of (seed, UTC hour).
    searches_per_hour: average searches per hour; hours vary from 0 to about twice that.
    pending_polls: an export answers PENDING to this many status GETs before it is ready.
    build_delay: seconds of real time after creation before an export can be ready.
    row_limit: the org's row limit per export table (``/v15/exports/rowLimit``).
    timestamp_style: text form of timestamps in the CSV files:
        iso_z ``2024-01-31T23:59:59.999Z``, iso_z_no_ms ``2024-01-31T23:59:59Z``,
        space_ms ``2024-01-31 23:59:59.999``, space ``2024-01-31 23:59:59``.
    bom: write a UTF-8 byte-order mark; None = on EXCEL files, not on NO_NEWLINE files.
    header_case: "mixed" writes the searches user column as ``username`` (like Coveo) and
        ``userName`` elsewhere; "api" writes the catalog's API names everywhere.
    empty_table: a table with no rows is a header-only CSV ("header"), a 0-byte CSV
        ("empty") or missing from the zip ("absent").
    max_rows_per_file: when set, a larger table is split into ``<table>_1.csv``,
        ``<table>_2.csv``, ... each with its own header.
    storage_host: the loopback address of the storage (download) server.
    estimate_factor: ``/v15/exports/estimate`` answers round(true count * factor).
    clock: the service's present (a function returning a tz-aware UTC datetime): rows at
        or after it do not exist yet, in estimates, row-limit checks and exports; an export
        holds the rows that existed when it was created. None: every row exists already.
        ``ground_truth(..., now=...)`` gives what exists at a given present.
    retyped_dimensions: (return name, Coveo type) pairs that ``/v15/dimensions/exportables``
        answers from its second call on, e.g. ``(("custom_events.c_cart_value", "TEXT"),)``:
        a dimension whose type changes between two runs.
    bad_dimension_rate: the share of rows whose value of a typed custom dimension does not
        parse as its type (``1e-3``: one in a thousand, as real exports might have). None:
        the dimensions' own value pools, where about one value in five does not parse, so
        that tests exercise the connector's rejected values (``simulator/dimensions.py``).
    """

    # Tokens stay out of repr() so that logging a config never writes them.
    token: str = field(default="sim-token", repr=False)
    view_only_token: str | None = field(default="sim-view-token", repr=False)
    org_id: str | None = None
    seed: int = 42
    searches_per_hour: int = 12
    pending_polls: int = 1
    build_delay: float = 0.0
    row_limit: int = 1_000_000
    timestamp_style: TTimestampStyle = "iso_z"
    bom: bool | None = None
    header_case: THeaderCase = "mixed"
    empty_table: TEmptyTable = "header"
    max_rows_per_file: int | None = None
    storage_host: str = "127.0.0.2"
    estimate_factor: float = 1.0
    clock: Callable[[], datetime] | None = field(default=None, compare=False)
    retyped_dimensions: tuple[tuple[str, str], ...] = ()
    bad_dimension_rate: float | None = None

    def __post_init__(self) -> None:
        if self.searches_per_hour < 0:
            raise ValueError("searches_per_hour must be >= 0")
        if self.pending_polls < 0 or self.build_delay < 0:
            raise ValueError("pending_polls and build_delay must be >= 0")
        if self.row_limit < 1:
            raise ValueError("row_limit must be >= 1")
        if self.max_rows_per_file is not None and self.max_rows_per_file < 1:
            raise ValueError("max_rows_per_file must be >= 1 or None")
        if self.bad_dimension_rate is not None and not 0 <= self.bad_dimension_rate <= 1:
            raise ValueError("bad_dimension_rate must be between 0 and 1, or None")
        if not self.token:
            raise ValueError("token must not be empty")
