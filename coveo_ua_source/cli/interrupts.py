"""Ctrl-C always ends a command.

Python drops an exception raised inside a finalizer (``__del__``): it prints "Exception
ignored in ..." and carries on. A Ctrl-C whose signal lands while a finalizer runs (dlt's
DuckDB connection pool has one, and the garbage collector runs them at any moment) would
be lost that way, and a load waiting for an export would go on waiting. While a command
runs, such a dropped interrupt is delivered again, outside the finalizer.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def ctrl_c_kept() -> Iterator[None]:
    """Within the block, a KeyboardInterrupt dropped by a finalizer is raised again."""
    previous = sys.unraisablehook

    def deliver_again(unraisable: Any) -> None:
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            # a moment later, from another thread: a signal sent from here would be handled
            # in this hook, which drops exceptions too (one that lands in a finalizer again
            # comes back here)
            again = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
            again.daemon = True
            again.start()
            return
        previous(unraisable)

    sys.unraisablehook = deliver_again
    try:
        yield
    finally:
        sys.unraisablehook = previous
