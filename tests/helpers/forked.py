"""Test processes forked from a server that has imported dlt and the connector already.

A new Python process spends about a second importing dlt before it does anything. Tests
that start many processes (a run killed at a chosen point, runs that overlap, the CLI)
start them with :func:`start`: a server process (this file run as a script, one per test
process) imports :data:`PRELOAD` once, and forks a child for each start. The child is a
real, separate process with its own pid, killed by SIGKILL like any other. Its
environment, working folder, stdin, stdout and stderr are set before it calls the
function it was given, as a shell would set them. dlt reads its config files from the
working folder once per process, when first asked, and nothing asks before the fork.

The server forks a monitor for each start, and the monitor forks the child: the monitor
reports the child's pid, waits for it, and writes its exit status to a file, so that the
test can tell when it ended and how, although the child is not its own.

Tests of the installed ``coveo-ua`` script itself (the README's examples, the package)
still start it with ``subprocess``.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

PRELOAD = ("dlt", "coveo_ua_source", "coveo_ua_source.cli.main", "crash_driver", "helpers.targets")
# Imported on first use by every run that loads into DuckDB (dlt's DuckDB credentials):
# imported once here rather than again in every child.
PRELOAD_ON_FIRST_USE = ("duckdb",)
# For measuring: no rusage of the test process sees the CPU of the server and its children
# (nobody waits for them), so with this variable set each appends its CPU seconds to a file.
CPU_LOG = "FORKED_CPU_LOG"
TESTS = Path(__file__).resolve().parent.parent


class ForkedProcess:
    """The parts of ``subprocess.Popen`` the tests use: pid, poll, wait, kill, returncode."""

    def __init__(self, pid: int, status_file: Path) -> None:
        self.pid = pid
        self._status_file = status_file
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once ended, or minus the signal that ended it (-9: SIGKILL)."""
        if self.returncode is None and self._status_file.exists():
            self.returncode = int(self._status_file.read_text(encoding="utf-8"))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"forked process {self.pid}", timeout or 0)
            time.sleep(0.01)
        return code

    def wait_for(self, ready: Callable[[], bool], timeout: float, what: str) -> bool:
        """Poll ``ready()`` while the process runs: True once it holds, False if the process
        ended first; fails the test after ``timeout`` seconds, saying ``what`` it waited for."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.poll() is not None:
                return False
            assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
            time.sleep(0.01)
        return True

    def send_signal(self, signal_number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal_number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Server:
    """The forking server of this test process, started on first use."""

    _lock = threading.Lock()
    _process: subprocess.Popen[str] | None = None

    @classmethod
    def request(cls, order: dict[str, Any]) -> int:
        with cls._lock:
            process = cls._running()
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(json.dumps(order) + "\n")
            process.stdin.flush()
            reply = process.stdout.readline()
        if not reply:
            raise RuntimeError(f"the forking server ended ({process.poll()})")
        return int(json.loads(reply)["pid"])

    @classmethod
    def _running(cls) -> subprocess.Popen[str]:
        if cls._process is None or cls._process.poll() is not None:
            cls._process = subprocess.Popen(
                [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, cwd=TESTS,
            )  # fmt: skip
        return cls._process


def start(
    target: str,
    argv: Sequence[str],
    *,
    environment: Mapping[str, str],
    cwd: Path,
    stdout: Path,
    stderr: Path,
) -> ForkedProcess:
    """Run ``target`` (``"module:function"``) with ``argv`` in a new forked process.

    The function's return value is the exit code. Its status lands next to ``stderr``.
    """
    status = stderr.with_name(stderr.name + ".exit-status")
    status.unlink(missing_ok=True)
    order = {
        "target": target,
        "argv": list(argv),
        "environment": dict(environment),
        "cwd": str(cwd),
        "stdout": str(stdout),
        "stderr": str(stderr),
        "status": str(status),
    }
    return ForkedProcess(_Server.request(order), status)


def output_of(
    target: str, argv: Sequence[str], *, environment: Mapping[str, str], cwd: Path, label: str
) -> str:
    """``start`` and wait: the standard output of a run that must exit 0, kept in
    ``cwd/<label>.out`` (a failure shows it and ``<label>.err``)."""
    stdout, stderr = cwd / f"{label}.out", cwd / f"{label}.err"
    process = start(target, argv, environment=environment, cwd=cwd, stdout=stdout, stderr=stderr)
    code = process.wait(timeout=240)
    assert code == 0, (
        f"{target} {list(argv)} exited {code}:\n{stdout.read_text()}\n{stderr.read_text()}"
    )
    return stdout.read_text()


def _serve() -> None:
    """Fork a monitor per order read from stdin, until stdin closes."""
    sys.path.insert(0, str(TESTS))
    for module in (*PRELOAD, *PRELOAD_ON_FIRST_USE):
        importlib.import_module(module)
    gc.freeze()  # the children's full collections skip what every one of them imported
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped by the kernel
    for line in sys.stdin:
        if os.fork() == 0:
            _monitor(json.loads(line))
    _log_cpu("server", resource.getrusage(resource.RUSAGE_SELF))


def _monitor(order: dict[str, Any]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    child = os.fork()
    if child == 0:
        _run(order)
    sys.stdout.write(json.dumps({"pid": child}) + "\n")
    sys.stdout.flush()
    _, status, usage = os.wait4(child, 0)
    _log_cpu(order["target"], usage)
    path = Path(order["status"])
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(str(os.waitstatus_to_exitcode(status)), encoding="utf-8")
    temporary.replace(path)
    os._exit(0)


def _log_cpu(name: str, usage: resource.struct_rusage) -> None:
    if log := os.environ.get(CPU_LOG):
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"{usage.ru_utime + usage.ru_stime:.3f} {name}\n")


def _run(order: dict[str, Any]) -> None:
    os.environ.clear()
    os.environ.update(order["environment"])
    os.chdir(order["cwd"])
    _redirect(0, os.devnull, os.O_RDONLY)
    _redirect(1, order["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    _redirect(2, order["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    sys.argv = [order["target"], *order["argv"]]
    try:
        module, function = order["target"].split(":")
        code = getattr(importlib.import_module(module), function)(order["argv"])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _redirect(descriptor: int, path: str, flags: int) -> None:
    opened = os.open(path, flags, 0o644)
    os.dup2(opened, descriptor)
    os.close(opened)


if __name__ == "__main__":
    _serve()
