"""How many pixels the decoding threads may hold at once: the memory a pack may use.

A decode's peak memory is a small constant times the image's pixel count (`decode.py` keeps
it at about 8 bytes a pixel), so the pixels being decoded at once bound the memory of all
decodes together, whatever the number of threads. A thread takes its image's pixel count
from the budget after reading the header and gives it back when the image is decoded; an
image bigger than the whole budget waits until nothing else is decoding, then runs alone.
Small images still decode on every thread at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional


class PixelBudget:
    """At most `limit` pixels decoding at once across threads (one image may exceed it alone)."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self.used == 0 or self.used + pixels <= self.limit)
            self.used += pixels
        try:
            yield
        finally:
            with self._cond:
                self.used -= pixels
                self._cond.notify_all()


@contextmanager
def holding(budget: Optional[PixelBudget], pixels: int) -> Iterator[None]:
    """`budget.hold(pixels)`, or nothing when a single decode runs without a budget."""
    if budget is None:
        yield
    else:
        with budget.hold(pixels):
            yield
