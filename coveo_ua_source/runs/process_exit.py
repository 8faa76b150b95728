"""The interpreter's exit without a garbage-collector walk over every object still alive.

As a Python process exits, its finalization collects garbage several times while it tears
the modules down, each time walking every object the collector tracks: after a run that
imported dlt, pyarrow and DuckDB's client, this took about 0.3 s of a daily run's 4 s
(``make bench-daily``; docs/performance.md). ``freeze_at_exit`` registers, once per
process, an ``atexit`` handler that moves the objects still alive into the collector's
permanent generation (``gc.freeze()``), which those collections skip. Nothing changes
while the process runs; at its exit, objects still alive are freed by their reference
counts as before, and only reference cycles left at exit are not collected (Python never
guarantees their ``__del__`` at exit). The handler runs after every handler registered
later (``atexit`` runs them last in, first out).

A process that wants the collections back: ``atexit.unregister(freeze_objects_at_exit)``.
"""

from __future__ import annotations

import atexit
import functools
import gc


def freeze_objects_at_exit() -> None:
    """The handler: the objects alive now are left out of the exit's collections."""
    gc.freeze()


@functools.cache  # once per process (a race registers it twice: freezing twice is harmless)
def freeze_at_exit() -> None:
    """Register ``freeze_objects_at_exit`` with ``atexit``."""
    atexit.register(freeze_objects_at_exit)
