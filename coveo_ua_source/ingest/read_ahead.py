"""How far pyarrow's streaming CSV reader may read ahead of the batches taken from it.

pyarrow's streaming reader reads its input on a thread of its own, up to 32 blocks ahead
of the batch asked for; the source reads the five tables of an export at once, so with
1 MiB blocks about 160 MB of inflated CSV waited in memory, the largest part of the
extract step's peak. ``ReadAheadGate`` holds that thread back once it is ``limit``
reads ahead of the batches taken. pyarrow reads the next block before it hands out a
batch, so ``limit`` must be 2 or more: with 1, every read waits its whole ``wait``. It
never deadlocks: a read waits at most ``wait`` seconds (a record longer than ``limit``
blocks needs more reads than batches), then goes on, counted in ``expired``.
"""

from __future__ import annotations

import threading


class ReadAheadGate:
    """Counts reads against batches taken; ``before_read`` waits while too far ahead."""

    def __init__(self, limit: int, wait: float) -> None:
        self._limit, self._wait = limit, wait
        self._ahead = 0
        self._open = False
        self.expired = 0  # reads that went on at the end of their wait
        self._changed = threading.Condition()

    def before_read(self) -> None:
        """Called by the reading thread before each read of the input."""
        with self._changed:
            if not self._changed.wait_for(self._may_read, timeout=self._wait):
                self.expired += 1
            self._ahead += 1

    def taken(self) -> None:
        """A batch was taken from the reader: one more read may run."""
        with self._changed:
            self._ahead = max(0, self._ahead - 1)
            self._changed.notify_all()

    def open(self) -> None:
        """No more holding back (the reader is being closed, or read another way)."""
        with self._changed:
            self._open = True
            self._changed.notify_all()

    def _may_read(self) -> bool:
        return self._open or self._ahead < self._limit
