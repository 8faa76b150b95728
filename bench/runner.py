"""Running one benchmark case in its own process: spec and result files, timeout, RSS."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Per-case timeout: a fixed part plus this much per million searches of the case's data.
TIMEOUT_BASE_S = 180.0
TIMEOUT_PER_MILLION_S = 300.0


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# dlt settings of the shell that reach the cases, to try tuning: LOAD__WORKERS=1 make bench
TUNING_PREFIXES = ("EXTRACT__", "NORMALIZE__", "LOAD__", "DATA_WRITER__")


def child_env() -> dict[str, str]:
    """The environment of every child: no source or destination config from the shell
    (the cases set their own), no telemetry; tuning settings pass through."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SOURCES__", "DESTINATION__"))
    }
    env.update(RUNTIME__DLTHUB_TELEMETRY="false", RUNTIME__LOG_LEVEL="WARNING")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@dataclass(frozen=True)
class Case:
    """One case of an interleaved series; ``check`` reads its work folder after each run
    (``{"ok": bool, ...}``), outside the measured process."""

    key: str
    module: str
    spec: dict[str, Any]
    millions: float
    check: Callable[[Path], dict[str, Any]] | None = None


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (the lower one for an even count), every run's
    figures in ``repeats``, and the largest peak RSS of all runs as
    ``process_peak_rss_mb``; the first failed run if any failed."""
    good = sorted((r for r in runs if "error" not in r), key=lambda r: r["wall_s"])
    if len(good) < len(runs):
        return next(r for r in runs if "error" in r)
    chosen = dict(good[(len(good) - 1) // 2])
    if len(runs) > 1:
        kept = ("wall_s", "steps", "process_peak_rss_mb", "process_cpu_s", "process_wall_s")
        kept += ("reattached", "created", "stages")
        chosen["repeats"] = [{k: r[k] for k in kept if k in r} for r in runs]
        chosen["process_peak_rss_mb"] = max(r["process_peak_rss_mb"] for r in runs)
    for measure in ("process_wall_s", "process_peak_rss_mb", "process_cpu_s"):
        chosen[f"median_{measure}"] = statistics.median(r[measure] for r in runs)
    return chosen


class CaseRunner:
    """Runs ``python -m bench.<module>`` per case, with a timeout, and collects results."""

    def __init__(self, work: Path, timeout_scale: float) -> None:
        self.work = work
        self.timeout_scale = timeout_scale

    def run(
        self, key: str, module: str, spec: dict[str, Any], millions: float, repeat: int = 1
    ) -> dict[str, Any]:
        """Run a case ``repeat`` times: the result of the run with the median wall time
        (the lower one for an even count), every run's figures in ``repeats``, and the
        largest peak RSS of all runs as ``process_peak_rss_mb``."""
        runs = [self._once(f"{key}-{index}", module, spec, millions) for index in range(repeat)]
        return median_run(runs)

    def interleaved(self, cases: list[Case], repeat: int) -> dict[str, dict[str, Any]]:
        """Run the cases in turn, ``repeat`` rounds (a b a b ...), so that a change in the
        machine's load reaches every case alike; ``median_run`` of each case by key."""
        runs: dict[str, list[dict[str, Any]]] = {case.key: [] for case in cases}
        for index in range(repeat):
            for case in cases:
                run = self._once(
                    f"{case.key}-{index}", case.module, case.spec, case.millions, case.check
                )
                runs[case.key].append(run)
        return {key: median_run(found) for key, found in runs.items()}

    def _once(
        self,
        key: str,
        module: str,
        spec: dict[str, Any],
        millions: float,
        check: Callable[[Path], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        directory = self.work / key
        directory.mkdir(parents=True, exist_ok=True)
        spec = {**spec, "workdir": str(directory / "work")}
        spec_path, result_path = directory / "spec.json", directory / "result.json"
        spec_path.write_text(json.dumps(spec, indent=1, default=str))
        timeout = (TIMEOUT_BASE_S + TIMEOUT_PER_MILLION_S * millions) * self.timeout_scale
        say(f"case {key}: python -m bench.{module} (timeout {timeout:.0f} s)")
        outcome = self._spawn(module, spec_path, result_path, directory, timeout)
        if outcome.get("exit_code") == 0 and result_path.exists():
            outcome.update(json.loads(result_path.read_text()))
            # the case's own high-water mark, read as it ends (see common.peak_rss_mb)
            outcome["process_peak_rss_mb"] = outcome.get("peak_rss_mb", outcome["wait4_maxrss_mb"])
        else:
            log = (directory / "log.txt").read_text(errors="replace")
            outcome.setdefault("error", f"exit code {outcome.get('exit_code')}")
            outcome["error"] += ": " + log[-1500:].strip()
            say(f"case {key} FAILED: {outcome['error'][-600:]}")
        if check is not None and "error" not in outcome:
            outcome["check"] = check(directory / "work")
            if not outcome["check"].get("ok"):
                outcome["error"] = f"loaded rows differ from the ground truth: {outcome['check']}"
                say(f"case {key} FAILED: {outcome['error'][-600:]}")
        shutil.rmtree(directory / "work", ignore_errors=True)  # free the disk at once
        if "wall_s" in outcome:
            say(
                f"case {key}: {outcome['wall_s']:.2f} s, {outcome.get('rows', 0):,} rows, "
                f"peak RSS {outcome['process_peak_rss_mb']:.0f} MB"
            )
        return outcome

    @staticmethod
    def _spawn(
        module: str, spec_path: Path, result_path: Path, directory: Path, timeout: float
    ) -> dict[str, Any]:
        """Run the case; os.wait4 gives its CPU seconds (ru_maxrss too, but on Linux that
        counts this process's RSS at the fork: the case reports its own peak instead)."""
        command = [sys.executable, "-m", f"bench.{module}", str(spec_path), str(result_path)]
        began = time.perf_counter()
        timed_out = threading.Event()
        with (directory / "log.txt").open("w") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=child_env(), cwd=directory
            )

            def kill() -> None:
                timed_out.set()
                process.kill()

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            finally:
                timer.cancel()
            process.returncode = os.waitstatus_to_exitcode(status)
        outcome: dict[str, Any] = {
            "module": f"bench.{module}",
            "exit_code": process.returncode,
            "process_wall_s": round(time.perf_counter() - began, 3),
            "wait4_maxrss_mb": round(usage.ru_maxrss / 1024, 1),
            # CPU seconds of the whole process: less sensitive than wall time to other
            # processes sharing the machine's cores
            "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        }
        if timed_out.is_set():
            outcome["error"] = f"timed out after {timeout:.0f} s"
        return outcome
