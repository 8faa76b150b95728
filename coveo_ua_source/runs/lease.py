"""Who may write a dataset: runs that load into one dataset take turns, wherever they run.

A run holds its dataset's lease from the moment it decides what to load (the committed
positions and what the destination holds are read under it) until its load package is
committed, so no two runs ever plan from the same state or write the same tables at once.
The lease lives where the data lives, so it holds across machines:

- **DuckDB**: an ``flock`` on ``<database file>.coveo_ua.lock`` beside the file (a DuckDB
  file is written by one process at a time anyway). The kernel releases it when its
  holder exits or dies.
- **PostgreSQL**: a session advisory lock on a connection of its own, released when that
  connection ends (server-side keepalives detect a vanished worker within minutes).
- **Any other SQL destination** (BigQuery, Snowflake, Redshift, ...), or any destination
  with ``coordination="table"``: the one row of ``_coveo_ua_lease`` in the dataset, taken by
  compare-and-set, renewed by a heartbeat and taken over once its heartbeat is older than
  ``LEASE_TTL`` (its holder died). Times are the database's own, never a worker's clock.
- **filesystem** with a local bucket: an ``flock`` beside the dataset's folder; a remote
  bucket has no lease (a warning says so): let the scheduler run one load at a time.

``acquire`` waits for a turn, saying what it waits for, up to ``lease_timeout``; then it
raises ``DatasetBusyError``. Nothing here knows about dlt's runs: ``runs/turns.py`` decides
when a run takes and returns its turn.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final, Protocol

from coveo_ua_source import settings
from coveo_ua_source.dlt_internals import DestinationUndefinedEntity
from coveo_ua_source.exceptions import ConfigurationError, DatasetBusyError

logger = logging.getLogger(__name__)

LEASE_TABLE = "_coveo_ua_lease"
# pg_try_advisory_lock(key1, key2): key1 is this connector's namespace ("Cove").
_ADVISORY_NAMESPACE = 0x436F7665
_FILE_DESTINATIONS = frozenset({"duckdb"})


@dataclass(frozen=True)
class Holder:
    """Who holds (or wants) a lease: shown to the runs that wait for it."""

    pipeline_name: str
    host: str
    pid: int
    since: str

    @classmethod
    def this_process(cls, pipeline_name: str) -> Holder:
        since = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(pipeline_name, socket.gethostname(), os.getpid(), since)

    def __str__(self) -> str:
        return (
            f"pipeline {self.pipeline_name!r} (pid {self.pid} on {self.host}, since {self.since})"
        )

    def as_json(self) -> str:
        return json.dumps(self.__dict__)

    def as_session_name(self) -> str:
        """A short form for PostgreSQL's application_name (63 bytes at most)."""
        return f"coveo-ua:{self.pid}:{self.host}:{self.pipeline_name}"[:63]

    @classmethod
    def from_session(cls, name: str | None, since: Any) -> Holder | None:
        parts = (name or "").split(":", 3)
        if len(parts) != 4 or parts[0] != "coveo-ua" or not parts[1].isdigit():
            return None
        started = since.isoformat(timespec="seconds") if isinstance(since, datetime) else "?"
        return cls(parts[3], parts[2], int(parts[1]), started)

    @classmethod
    def from_json(cls, text: str | None) -> Holder | None:
        try:
            fields = json.loads(text or "")
            return cls(str(fields["pipeline_name"]), str(fields["host"]), int(fields["pid"]),
                       str(fields["since"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None


class Lease(Protocol):
    """One dataset's lease, from one run's side."""

    what: str  # the dataset and where it is, for messages

    def try_acquire(self) -> bool:
        """Take the lease if it is free (or its holder is dead); never waits."""

    def holder(self) -> str:
        """Who holds it now, as far as can be told."""

    def lost(self) -> bool:
        """Whether a lease this run held was taken over meanwhile."""

    def release(self) -> None:
        """Return the lease; safe to call when it is not held."""


def acquire(
    lease: Lease,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> float:
    """Take ``lease``, waiting at most ``timeout`` seconds; returns the seconds waited.

    While it waits it logs what it waits for (at once, then every LEASE_REPORT_EVERY s);
    past ``timeout`` it raises ``DatasetBusyError`` naming the holder.
    """
    started = monotonic()
    delay, next_report, log = 0.05, started, logger.warning
    while not lease.try_acquire():
        now = monotonic()
        waited = now - started
        if waited >= timeout:
            raise DatasetBusyError(
                f"{lease.what} is being loaded by {lease.holder()}; waited {waited:.0f} s "
                f"(lease_timeout={timeout:g} s). This run changed nothing: rerun it later, "
                "or raise lease_timeout (SOURCES__COVEO_UA__LEASE_TIMEOUT) to wait longer"
            )
        if now >= next_report:
            log("waiting for %s: %s is loading into it (waited %.0f s of lease_timeout %g s)",
                lease.what, lease.holder(), waited, timeout)  # fmt: skip
            next_report, log = now + settings.LEASE_REPORT_EVERY, logger.info
        sleep(min(delay, max(timeout - waited, 0.0)))
        delay = min(delay * 2, settings.LEASE_POLL_MAX)
    return monotonic() - started


def lease_for(pipeline: Any, coordination: str, holder: Holder) -> Lease | None:
    """The lease of ``pipeline``'s dataset, by its destination; None when not coordinated."""
    if coordination not in settings.COORDINATIONS:
        raise ConfigurationError(
            f"coordination={coordination!r}: use one of {', '.join(settings.COORDINATIONS)}"
        )
    destination: Any = pipeline.destination
    if coordination == "off" or destination is None:
        return None
    kind = _kind(destination)
    dataset = str(pipeline.dataset_name)
    if coordination == "table":
        return TableLease(pipeline, holder)
    if kind in _FILE_DESTINATIONS:
        return FileLease(_duckdb_lock_path(pipeline), f"dataset {dataset!r} in {kind}", holder)
    if kind == "postgres":
        return AdvisoryLease(pipeline, holder)
    if kind == "filesystem":
        return _filesystem_lease(pipeline, dataset, holder)
    return TableLease(pipeline, holder)


def exclusive_destination(pipeline: Any) -> bool:
    """Whether one process at a time may even read the destination (a DuckDB file)."""
    destination: Any = pipeline.destination
    return destination is not None and _kind(destination) in _FILE_DESTINATIONS


def _kind(destination: Any) -> str:
    return str(destination.destination_type).rsplit(".", 1)[-1]


def _duckdb_lock_path(pipeline: Any) -> Path:
    credentials = pipeline.destination_client().config.credentials
    database = str(getattr(credentials, "database", "") or "")
    if not database or database == ":memory:":
        database = f"{pipeline.pipeline_name}.duckdb"
    return Path(database).resolve().with_name(Path(database).name + ".coveo_ua.lock")


def _filesystem_lease(pipeline: Any, dataset: str, holder: Holder) -> Lease | None:
    bucket = str(getattr(pipeline.destination_client().config, "bucket_url", "") or "")
    local = bucket[len("file://") :] if bucket.startswith("file://") else bucket
    if "://" in local or not local:
        logger.warning(
            "runs into the remote bucket %s are not coordinated: let the scheduler run one "
            "load of dataset %r at a time", bucket, dataset,
        )  # fmt: skip
        return None
    path = Path(local).resolve() / f".{dataset}.coveo_ua.lock"
    return FileLease(path, f"dataset {dataset!r} in {local}", holder, make_folder=True)


class FileLease:
    """An ``flock`` on a file: held by one open file at a time on this host (or on hosts
    sharing a filesystem that honours flock); the file records the holder."""

    def __init__(self, path: Path, what: str, holder: Holder, make_folder: bool = False) -> None:
        self.path = path
        self.what = what
        self._me = holder
        self._make_folder = make_folder  # else a missing folder is the destination's error
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._make_folder:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            file = self.path.open("a+", encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(
                f"cannot load into {self.what}: the folder {self.path.parent} does not exist; "
                "create it, or name a DuckDB file in a folder that exists"
            ) from None
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        file.seek(0)
        file.truncate()
        file.write(self._me.as_json())
        file.flush()
        self._file = file
        return True

    def holder(self) -> str:
        try:
            recorded = Holder.from_json(self.path.read_text(encoding="utf-8"))
        except OSError:
            recorded = None
        return str(recorded) if recorded else f"another process (see {self.path})"

    def lost(self) -> bool:
        return False  # only its holder's death ends an flock

    def release(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.truncate(0)
            file.close()  # closing the descriptor releases the flock


class AdvisoryLease:
    """A PostgreSQL session advisory lock, on a connection of its own.

    The connection names its holder (``application_name``), so a waiting run can say who
    holds the lock; server-side keepalives end the session of a worker that vanished.
    """

    _KEEPALIVES: Final = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
                   "tcp_keepalives_count": "6"}  # fmt: skip

    def __init__(self, pipeline: Any, holder: Holder) -> None:
        self.what = f"dataset {pipeline.dataset_name!r} in postgres"
        self._pipeline = pipeline
        self._me = holder
        self._keys = (_signed32(_ADVISORY_NAMESPACE), _signed32(zlib.crc32(
            f"{pipeline.dataset_name}".encode())))  # fmt: skip
        self._client: Any = None
        self._held = False

    def try_acquire(self) -> bool:
        client = self._connection()
        self._held = bool(
            client.execute_sql("SELECT pg_try_advisory_lock(%s, %s)", *self._keys)[0][0]
        )
        return self._held

    def holder(self) -> str:
        sql = (
            "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.classid::int = %s AND l.objid::int = %s AND l.granted"
        )
        try:
            rows = self._connection().execute_sql(sql, *self._keys) or []
        except Exception:  # a message part, never a reason to fail
            rows = []
        if not rows:
            return "another session"
        name, address, since = rows[0]
        recorded = Holder.from_session(name, since)
        return str(recorded) if recorded else f"session {name or '?'} from {address} since {since}"

    def lost(self) -> bool:
        return False  # the lock ends with its session, and this run's session is alive

    def release(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self._held:
                client.execute_sql("SELECT pg_advisory_unlock(%s, %s)", *self._keys)
        finally:
            self._held = False
            client.close_connection()

    def _connection(self) -> Any:
        if self._client is None:
            client = self._pipeline.sql_client()
            client.open_connection()
            name = self._me.as_session_name()
            client.execute_sql("SELECT set_config('application_name', %s, false)", name)
            for setting, value in self._KEEPALIVES.items():
                client.execute_sql("SELECT set_config(%s, %s, false)", setting, value)
            self._client = client
        return self._client


class TableLease:
    """The one row of ``_coveo_ua_lease``: taken by compare-and-set on its token, renewed by a
    heartbeat thread, taken over when the database's clock says its heartbeat is stale."""

    def __init__(self, pipeline: Any, holder: Holder, ttl: float = settings.LEASE_TTL) -> None:
        self.what = f"dataset {pipeline.dataset_name!r} (lease table {LEASE_TABLE})"
        self._pipeline = pipeline
        self._me = holder
        self._ttl = ttl
        self._token: str | None = None
        self._client: Any = None
        self._heartbeat: _Heartbeat | None = None

    def try_acquire(self) -> bool:
        client = self._connection()
        row = self._row(client)
        if row is None:
            return False
        holder, token, heartbeat_at, now = row
        if token is not None and not _stale(heartbeat_at, now, self._ttl):
            return False
        mine = uuid.uuid4().hex
        table = client.make_qualified_table_name(LEASE_TABLE)
        taken, observed = ("token = %s", [token]) if token is not None else ("token IS NULL", [])
        try:
            client.execute_sql(
                f"UPDATE {table} SET holder = %s, token = %s, since = CURRENT_TIMESTAMP, "  # noqa: S608
                f"heartbeat_at = CURRENT_TIMESTAMP WHERE {taken}",
                self._me.as_json(), mine, *observed,
            )  # fmt: skip
        except Exception as error:  # a write conflict: another run was faster
            logger.debug("lease update conflicted: %s", error)
            return False
        confirmed = self._row(client)
        if confirmed is None or confirmed[1] != mine:
            return False
        if token is not None:
            logger.warning("took over %s from %s: its heartbeat stopped", self.what, holder)
        self._token = mine
        self._heartbeat = _Heartbeat(self._pipeline, mine, self._ttl)
        return True

    def holder(self) -> str:
        row = self._row(self._connection())
        recorded = Holder.from_json(row[0]) if row else None
        return str(recorded) if recorded else "another run"

    def lost(self) -> bool:
        return self._heartbeat is not None and self._heartbeat.lost.is_set()

    def release(self) -> None:
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.stop()
        client, token = self._client, self._token
        self._client, self._token = None, None
        if client is None:
            return
        try:
            if token is not None:
                table = client.make_qualified_table_name(LEASE_TABLE)
                client.execute_sql(
                    f"UPDATE {table} SET holder = NULL, token = NULL, heartbeat_at = NULL "  # noqa: S608
                    "WHERE token = %s",
                    token,
                )
        finally:
            client.close_connection()

    def _connection(self) -> Any:
        if self._client is None:
            client = self._pipeline.sql_client()
            client.open_connection()
            _create_lease_table(client)
            self._client = client
        return self._client

    @staticmethod
    def _row(client: Any) -> tuple[Any, ...] | None:
        table = client.make_qualified_table_name(LEASE_TABLE)
        rows = client.execute_sql(
            f"SELECT holder, token, heartbeat_at, CURRENT_TIMESTAMP FROM {table}"  # noqa: S608
        )
        if not rows:
            client.execute_sql(f"INSERT INTO {table} (holder) VALUES (NULL)")  # noqa: S608
            return None
        return tuple(rows[0])


def _create_lease_table(client: Any) -> None:
    """The lease table with its one row, created by whichever run comes first."""
    table = client.make_qualified_table_name(LEASE_TABLE)
    try:
        client.execute_sql(f"SELECT 1 FROM {table} WHERE 1 = 0")  # noqa: S608
        return
    except DestinationUndefinedEntity:
        pass
    try:
        if not client.has_dataset():
            client.create_dataset()
    except Exception as error:  # another run created it first
        logger.debug("dataset creation raced: %s", error)
    text, moment = _types(client)
    try:
        client.execute_sql(
            f"CREATE TABLE {table} AS SELECT CAST(NULL AS {text}) AS holder, "
            f"CAST(NULL AS {text}) AS token, CAST(NULL AS {moment}) AS since, "
            f"CAST(NULL AS {moment}) AS heartbeat_at"
        )
    except Exception as error:  # another run created it first: use theirs
        logger.debug("lease table creation raced: %s", error)


def _types(client: Any) -> tuple[str, str]:
    """The text and timestamp type names of the client's SQL dialect."""
    dialect = str(getattr(client.capabilities, "sqlglot_dialect", "") or "")
    return {
        "bigquery": ("STRING", "TIMESTAMP"),
        "snowflake": ("VARCHAR", "TIMESTAMP_TZ"),
        "tsql": ("NVARCHAR(400)", "DATETIMEOFFSET"),
        "databricks": ("STRING", "TIMESTAMP"),
        "clickhouse": ("Nullable(String)", "Nullable(DateTime64(6, 'UTC'))"),
    }.get(dialect, ("VARCHAR", "TIMESTAMP WITH TIME ZONE"))


class _Heartbeat:
    """Renews a table lease every LEASE_HEARTBEAT seconds on a connection of its own."""

    def __init__(self, pipeline: Any, token: str, ttl: float) -> None:
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._token = token
        self._every = min(settings.LEASE_HEARTBEAT, ttl / 4)
        self._client = pipeline.sql_client()  # made here: dlt resolves its config per thread
        self._thread = threading.Thread(target=self._run, name="coveo-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        client = self._client
        try:
            client.open_connection()
            table = client.make_qualified_table_name(LEASE_TABLE)
            while not self._stop.wait(self._every):
                client.execute_sql(
                    f"UPDATE {table} SET heartbeat_at = CURRENT_TIMESTAMP WHERE token = %s",  # noqa: S608
                    self._token,
                )
                rows = client.execute_sql(f"SELECT token FROM {table}")  # noqa: S608
                if not rows or rows[0][0] != self._token:
                    logger.error("the dataset's lease was taken over while this run loaded")
                    self.lost.set()
                    return
        except Exception as error:  # an unreachable database: the lease may lapse
            logger.error("could not renew the dataset's lease: %s", error)
            self.lost.set()
        finally:
            client.close_connection()


def _stale(heartbeat_at: Any, now: Any, ttl: float) -> bool:
    if heartbeat_at is None or now is None:
        return True
    return bool(_aware(now) - _aware(heartbeat_at) > timedelta(seconds=ttl))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
