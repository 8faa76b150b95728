"""Defaults and constants of the connector, each with the reason for its value."""

from datetime import timedelta
from typing import Final

# API roots by region, from Coveo's documentation (see docs/coveo-exports-api.md).
REGION_ROOTS: Final[dict[str, str]] = {
    "us": "https://platform.cloud.coveo.com/rest/ua",
    "eu": "https://platform-eu.cloud.coveo.com/rest/ua",
    "au": "https://platform-au.cloud.coveo.com/rest/ua",
    "ca": "https://platform-ca.cloud.coveo.com/rest/ua",
    "hipaa": "https://platformhipaa.cloud.coveo.com/rest/ua",
}
DEFAULT_REGION: Final = "us"

# Durations are ISO 8601 strings so that dlt can also take them from config and env vars.
# One export per day keeps each export well under typical org row limits.
DEFAULT_WINDOW: Final = "P1D"
# No lookback by default: UA events are immutable once the settle delay has passed.
DEFAULT_LOOKBACK: Final = "PT0S"
# end_date=None loads up to the last whole hour that is at least this old, because
# UA events can take a while to become visible to the Read API.
DEFAULT_SETTLE_DELAY: Final = "PT1H"
# A window is split before export when its largest table estimate exceeds this share of
# the org's row limit: estimates are approximate, so keep a margin.
ROW_LIMIT_MARGIN: Final = 0.9
# Loaded rows below (1 - this) x the estimate are reported as a warning: estimates are
# approximate, and rows can be rejected as malformed.
ESTIMATE_TOLERANCE: Final = 0.05
# A run that would create more exports than this is refused before any request: a typo in
# `window` (PT1M) or `start_date` would otherwise start thousands of exports on the org.
DEFAULT_MAX_EXPORTS: Final = 500
# `coveo-ua plan`'s duration estimate. Coveo publishes no build time for an export; a
# minute each is an assumption, to be replaced by what the org's `_coveo_ua_windows` show.
PLAN_BUILD_SECONDS: Final = 60.0
# Rows loaded per second once downloaded, rounded down from `make bench` case (a) into
# DuckDB on 2 cores (docs/performance.md has today's figure).
PLAN_ROWS_PER_SECOND: Final = 500_000
# The smallest window a failing export is split down to.
MIN_SPLIT_WINDOW: Final = timedelta(hours=1)

# Seconds before the first status check; it doubles up to POLL_MAX_INTERVAL.
DEFAULT_POLL_INTERVAL: Final = 5.0
POLL_MAX_INTERVAL: Final = 60.0
# How long one export may stay PENDING before ExportTimeoutError (seconds).
DEFAULT_MAX_WAIT: Final = 3600.0

# Exports built at the same time: overlaps the service's build with our download/load.
DEFAULT_MAX_CONCURRENT_EXPORTS: Final = 2

# HTTP: per-request timeout (connect, read) in seconds.
HTTP_TIMEOUT: Final = (10.0, 120.0)
# Retries of 429, 5xx and connection errors before giving up.
HTTP_MAX_ATTEMPTS: Final = 6
HTTP_BACKOFF_BASE: Final = 1.0
HTTP_BACKOFF_MAX: Final = 60.0
# Total seconds spent sleeping between retries of one request, at most.
HTTP_RETRY_BUDGET: Final = 300.0
# Download chunk size: large enough to keep syscalls rare, small enough for bounded memory.
DOWNLOAD_CHUNK_BYTES: Final = 1 << 20

# Stall watchdog of downloads: fewer than DOWNLOAD_MIN_BYTES arriving within
# DOWNLOAD_STALL_SECONDS is a stall (the read timeout never fires while bytes trickle).
# 64 KiB a minute is ~1 KB/s: any live link does far better, a stalled host far worse.
DOWNLOAD_MIN_BYTES: Final = 64 << 10
DOWNLOAD_STALL_SECONDS: Final = 60.0
# A stalled download is tried once more from a fresh redirect, then fails.
DOWNLOAD_STALL_RETRIES: Final = 1
# One export's download, all attempts together, may not take longer (seconds): 6 h
# fetch 20 GB even at 1 MB/s.
DOWNLOAD_DEADLINE: Final = 6 * 3600.0
# Redirects followed from the API's pre-signed link to the file (S3 uses none or one).
DOWNLOAD_MAX_REDIRECTS: Final = 5

# A CSV record longer than this is a rejected row (its first ROW_KEEP_BYTES are kept);
# UA rows are a few KB, so only a broken export comes near it.
ROW_MAX_BYTES: Final = 16 << 20
ROW_KEEP_BYTES: Final = 4096

# CSV parsing block size for pyarrow's streaming reader. dlt reads the five tables
# round-robin, so five readers hold blocks at once: a small block keeps the extract step's
# peak memory flat in the row count at the same speed (`python -m bench.run --cases b
# --rss-scaling`, figures in docs/performance.md).
CSV_BLOCK_BYTES: Final = 1 << 20
# pyarrow's reader reads up to 32 blocks ahead of the batch asked for, per table: at most
# this many reads run ahead of the batches taken (ingest/read_ahead.py), enough to keep
# inflating on its thread while a batch is typed and written. A read held back longer
# than CSV_READ_AHEAD_WAIT seconds goes on (a record longer than that many blocks).
CSV_READ_AHEAD_BLOCKS: Final = 4
CSV_READ_AHEAD_WAIT: Final = 1.0
# A reader left before the end waits up to this many seconds for pyarrow's read-ahead
# thread to stop calling into Python (one caught there at exit aborts the process).
CSV_READ_AHEAD_STOP_WAIT: Final = 5.0
# Windows of different tables read, typed and written to Parquet at once (each on a thread
# of its own, ingest/background.py): two use the machine's two cores.
EXTRACT_THREADS: Final = 2
# A Parquet row group of DuckDB's size is buffered before it is written; a table whose
# row group would take more memory than this writes each batch as it comes
# (ingest/parquet_files.py).
PARQUET_ROW_GROUP_BUDGET: Final = 16 << 20
# A Parquet file is closed, and the next begun, once it holds this many column chunks
# (row groups x columns): its writer keeps about 0.8 KB of metadata per chunk until then.
PARQUET_FILE_COLUMN_CHUNKS: Final = 10_000
# A zip member may not decompress to more than this many times its compressed size
# nor more than ZIP_MAX_MEMBER_BYTES: a guard against zip bombs.
ZIP_MAX_RATIO: Final = 200
ZIP_MAX_MEMBER_BYTES: Final = 64 << 30

# Runs that load into one dataset take turns (runs/lease.py). How long a run waits for
# its turn before DatasetBusyError: an hour covers a daily run behind a week's partition.
DEFAULT_LEASE_TIMEOUT: Final = 3600.0
# "auto": the destination's own means (DuckDB: a lock file beside the database; PostgreSQL:
# an advisory lock; other SQL warehouses: a lease row); "table": always the lease row;
# "off": no coordination (the scheduler guarantees one run at a time per dataset).
DEFAULT_COORDINATION: Final = "auto"
COORDINATIONS: Final = ("auto", "table", "off")
# A lease row whose heartbeat is older than this is taken over: its holder died. The
# heartbeat comes every LEASE_HEARTBEAT seconds, so four in a row must be missed.
LEASE_TTL: Final = 120.0
LEASE_HEARTBEAT: Final = 30.0
# Waiting for a turn: retries back off up to this many seconds; what the run waits for
# is logged again every LEASE_REPORT_EVERY seconds.
LEASE_POLL_MAX: Final = 2.0
LEASE_REPORT_EVERY: Final = 60.0
# Loads completed since a pipeline's previous check are checked for duplicate rows; the
# loads' completion times come from the loading machines' clocks, so the check reaches
# back this much further than the previous one.
LOADS_CHECK_MARGIN: Final = timedelta(days=1)
# A window the service fails to give in this many runs in a row is skipped, so that the
# windows after it load (0: never skip; the run stops there and loads it next time).
DEFAULT_SKIP_FAILING_WINDOWS_AFTER: Final = 0
# An export that vanishes while it is polled or downloaded (another run deleted it, or
# it expired) is created again this many times before the window fails.
EXPORT_VANISHED_RETRIES: Final = 3

# A worker clock further than this from the service's (its Date header) is reported; runs
# always plan up to the service's present.
CLOCK_SKEW_TOLERANCE: Final = timedelta(minutes=1)

# Name of the dlt config section: SOURCES__COVEO_UA__ACCESS_TOKEN etc.
SOURCE_SECTION: Final = "coveo_ua"

# Load settings applied by lean_load_defaults() unless the user configured them (see
# docs/performance.md). DuckDB: two load jobs at once, each on one DuckDB thread, keep
# both cores busy with less memory and less waiting than one job on two threads (dlt's
# default, 20 jobs at once, copies every table at the same time); a memory limit bounds
# DuckDB's buffers. Uncompressed Parquet spares the extract step the Snappy pass (the
# files live only until the load).
DUCKDB_LOAD_WORKERS: Final = 2
DUCKDB_LOAD_THREADS: Final = 1
DUCKDB_MEMORY_LIMIT: Final = "512MB"
PARQUET_COMPRESSION: Final = "none"
# A log record's `extra` for warnings that the CLI's run summary also reports (with the
# table to query): the CLI counts them instead of printing each; Python callers see them.
IN_RUN_SUMMARY: Final = {"coveo_ua_in_run_summary": True}
