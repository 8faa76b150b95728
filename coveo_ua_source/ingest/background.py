"""Work that runs on a thread of its own while dlt's extract goes on with other tables.

dlt's extract takes the tables' items in turn on one thread; a resource that yields None
lets it go on to the next. ``Background`` runs a function on its own thread, at most
``slots`` of them at once per process (reading, typing and writing release the interpreter
lock for most of their time, so two use the machine's two cores), and the resource yields
None until it is done. ``cancel()`` asks the function to stop at its next ``check()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class Cancelled(Exception):
    """The work was cancelled before it finished."""


class Background(Generic[_T]):
    """``work(check)`` on a thread, started at once; ``check()`` raises once cancelled."""

    def __init__(self, work: Callable[[Callable[[], None]], _T], slots: threading.Semaphore):
        self._work, self._slots = work, slots
        self._cancelled = threading.Event()
        self._finished = threading.Event()
        self._result: _T | None = None
        self._error: BaseException | None = None
        # not a daemon: the interpreter waits for it at exit, as one caught in pyarrow then
        # aborts the process
        self._thread = threading.Thread(target=self._run, name="coveo-ua-read")
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Whether the work has ended, waiting at most ``timeout`` seconds for it."""
        return self._finished.wait(timeout)

    def result(self) -> _T:
        """The work's result, or its exception raised here; waits for it to end."""
        self._finished.wait()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def cancel(self) -> None:
        """Ask the work to stop, and wait until it has."""
        self._cancelled.set()
        self._finished.wait()

    def check(self) -> None:
        """Called by the work between its steps: raises Cancelled once cancel() was called."""
        if self._cancelled.is_set():
            raise Cancelled

    def _run(self) -> None:
        try:
            with self._slots:
                self.check()
                self._result = self._work(self.check)
        except BaseException as error:  # handed to the thread that asks for the result
            self._error = error
        finally:
            self._finished.set()


def work_slots(count: int) -> threading.BoundedSemaphore:
    """A semaphore that lets ``count`` pieces of background work run at once."""
    return threading.BoundedSemaphore(count)
