"""``python -m coveo_ua_simulator``: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import get_args

from coveo_ua_simulator.config import (
    SimulatorConfig,
    TEmptyTable,
    THeaderCase,
    TTimestampStyle,
)
from coveo_ua_simulator.server import Simulator

_DEFAULTS = SimulatorConfig()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coveo-ua-simulator",
        description="Serve a simulated Coveo UA exports API on loopback until Ctrl-C.",
    )
    add = parser.add_argument
    add("--port", type=int, default=8765, help="API port (0: any free port; default 8765)")
    add("--storage-port", type=int, default=0, help="download host port (default: any)")
    add("--token", default=_DEFAULTS.token, help="bearer token with every privilege")
    add("--view-only-token", default=_DEFAULTS.view_only_token, help="token that may only GET")
    add("--org-id", default=None, help="require org=<ORG_ID> on every API call")
    add("--seed", type=int, default=_DEFAULTS.seed, help="data seed")
    add("--searches-per-hour", type=int, default=_DEFAULTS.searches_per_hour,
        help="mean searches in each simulated hour")  # fmt: skip
    add("--pending-polls", type=int, default=_DEFAULTS.pending_polls,
        help="status checks an export answers PENDING before AVAILABLE")  # fmt: skip
    add("--build-delay", type=float, default=_DEFAULTS.build_delay,
        help="seconds an export takes to build")  # fmt: skip
    add("--row-limit", type=int, default=_DEFAULTS.row_limit,
        help="rows one table of an export may hold (/v15/exports/rowLimit)")  # fmt: skip
    add("--timestamp-style", choices=get_args(TTimestampStyle), default=_DEFAULTS.timestamp_style,
        help="how the CSV writes datetimes (a form the API account lists)")  # fmt: skip
    add("--bom", action=argparse.BooleanOptionalAction, default=None, help="default: EXCEL only")
    add("--header-case", choices=get_args(THeaderCase), default=_DEFAULTS.header_case,
        help="the casing of the CSV headers")  # fmt: skip
    add("--empty-table", choices=get_args(TEmptyTable), default=_DEFAULTS.empty_table,
        help="how a table without rows appears in the zip")  # fmt: skip
    add("--max-rows-per-file", type=int, default=None,
        help="split a table into several CSV members past this many rows")  # fmt: skip
    add("--estimate-factor", type=float, default=_DEFAULTS.estimate_factor,
        help="the estimate endpoint answers the true count times this")  # fmt: skip
    add("--storage-host", default=_DEFAULTS.storage_host,
        help="the loopback address of the download host (not the API's)")  # fmt: skip
    add("--bad-dimension-rate", type=float, default=None,
        help="share of custom dimension values that do not parse (default: ~1 in 5)")  # fmt: skip
    return parser


def _config(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        token=args.token, view_only_token=args.view_only_token, org_id=args.org_id,
        seed=args.seed, searches_per_hour=args.searches_per_hour,
        pending_polls=args.pending_polls, build_delay=args.build_delay,
        row_limit=args.row_limit, timestamp_style=args.timestamp_style, bom=args.bom,
        header_case=args.header_case, empty_table=args.empty_table,
        max_rows_per_file=args.max_rows_per_file, storage_host=args.storage_host,
        estimate_factor=args.estimate_factor, bad_dimension_rate=args.bad_dimension_rate,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Before printing anything: a caller may signal as soon as it reads a line.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    with Simulator(config, api_port=args.port, storage_port=args.storage_port) as sim:
        shown = config.token if args.token == _DEFAULTS.token else "(the value of --token)"
        print(f"api_root: {sim.api_root}", flush=True)
        print(f"storage_root: {sim.storage_root}", flush=True)
        print(f"token: {shown}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:  # when main() runs outside the main thread
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
