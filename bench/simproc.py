"""The simulator in its own process, so that its work is not in a case's CPU or RSS.

The simulator builds an export's zip lazily, inside the first download request
(``ExportStore.zip_for``, called by its storage server), with the same generator as
bench.dataset; see bench.http_source for how case (a) leaves that build out.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from coveo_ua_simulator import SimulatorConfig

_READY_TIMEOUT = 60.0


class SimulatorProcess:
    """``python -m coveo_ua_simulator`` on free loopback ports, stopped on exit."""

    def __init__(self, config: SimulatorConfig, log_path: Path, env: dict[str, str]) -> None:
        self.config = config
        self._log_path = log_path
        self._env = env
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._log: IO[str] | None = None
        self.api_root = ""

    def _arguments(self) -> list[str]:
        cfg = self.config
        return [
            sys.executable, "-m", "coveo_ua_simulator", "--port", "0",
            "--seed", str(cfg.seed), "--searches-per-hour", str(cfg.searches_per_hour),
            "--build-delay", str(cfg.build_delay), "--pending-polls", str(cfg.pending_polls),
            "--row-limit", str(cfg.row_limit),
            *(() if cfg.bad_dimension_rate is None
              else ("--bad-dimension-rate", repr(cfg.bad_dimension_rate))),
        ]  # fmt: skip

    def __enter__(self) -> SimulatorProcess:
        self._log = self._log_path.open("w")
        self._process = subprocess.Popen(
            self._arguments(),
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=self._env,
        )
        threading.Thread(target=self._pump, args=(self._process.stdout,), daemon=True).start()
        try:
            self.api_root = self._wait_for("api_root: ")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _pump(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _wait_for(self, prefix: str) -> str:
        deadline = time.monotonic() + _READY_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError(f"the simulator exited; see {self._log_path}")
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise RuntimeError(f"the simulator did not start in {_READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """SIGTERM (the simulator stops its servers and removes its zips), then wait."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
        if self._log is not None:
            self._log.close()
            self._log = None


def served_zip(api_root: str, token: str, destination: Path) -> str:
    """Download the simulator's only export to ``destination``; returns its id."""
    from coveo_ua_source.api.client import CoveoClient

    client = CoveoClient(token, base_url=api_root, timeout=(10.0, 3600.0))
    try:
        exports = [info for info in client.list_exports() if info.status == "AVAILABLE"]
        if len(exports) != 1:
            raise RuntimeError(f"expected one AVAILABLE export, found {len(exports)}")
        client.download_export(exports[0].id, destination)
    finally:
        client.close()
    return exports[0].id
