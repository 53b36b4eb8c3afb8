"""Hits reserved in batches: a shared (Redis) moving window asked once per batch of requests,
not once per request.

Why: with the counts in Redis every API read paid two round trips (the moving window's hit and
its statistics for the ``RateLimit-*`` headers), three quarters of a cached read's cost: one
api process of the local cluster did ~3,500 reads a second with limits on against ~15,400 with
them off (docs/performance.md). ``limits`` has no client-side batching, so it is done here.

How: for a limit of ``amount`` hits per window a process reserves ``batch_size(amount)`` hits
at once (``hit(item, ..., cost=n)``: atomic in the storage) and spends them locally, for at
most ``HOLD_S`` seconds; when half of it is spent, the next batch is reserved in the background,
so a steady client's requests never wait for the storage (with a slow or busy Redis, that wait
was the p99). A reservation the window has no room for falls back to single hits, so the last
hits of a window are counted exactly.

The trade-off, in the safe direction: a hit is reserved in the shared window before it is
spent, so the processes together never allow more than the limit; reserved hits a process
does not spend within ``HOLD_S`` still count until the window forgets them, so a client can be
refused up to ``(batch - 1) x processes`` hits early in a window. Small limits (under 200 a
window: sign-in, sign-up, uploads, tokens) are never batched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

HOLD_S: Final = 1.0
MAX_BATCH: Final = 32
MAX_HELD: Final = 10_000  # reservations kept per process


def batch_size(amount: int) -> int:
    """Hits reserved at once for a limit of ``amount`` per window: 1% of it, 1 to 32."""
    return max(1, min(MAX_BATCH, amount // 100))


@dataclass
class Reservation:
    """Hits reserved in the shared window and not yet spent by this process."""

    left: int
    until: float  # time.monotonic(): spend them before this
    remaining: int  # what the window had left after the reservation
    reset_at: float  # epoch: when the window frees its oldest hit
    refilling: bool = False  # the next batch is being reserved in the background

    def refill(self, batch: int, remaining: int, reset_at: float) -> None:
        """The next batch was reserved: spend it too, for another ``HOLD_S``."""
        self.left += batch
        self.until = time.monotonic() + HOLD_S
        self.remaining = remaining
        self.reset_at = reset_at


class Reservations:
    """This process's unspent reservations, by (category, key, limit)."""

    def __init__(self, max_held: int = MAX_HELD) -> None:
        self.max_held = max_held
        self._held: dict[tuple[str, str, int], Reservation] = {}

    def spend(self, key: tuple[str, str, int]) -> Reservation | None:
        """Spend one reserved hit of ``key``: its reservation, or None when none is left."""
        held = self._held.get(key)
        if held is None:
            return None
        if held.left <= 0 or time.monotonic() >= held.until:
            del self._held[key]
            return None
        held.left -= 1
        return held

    def hold(self, key: tuple[str, str, int], reservation: Reservation) -> None:
        if len(self._held) >= self.max_held:
            now = time.monotonic()
            self._held = {k: r for k, r in self._held.items() if r.until > now and r.left > 0}
            if len(self._held) >= self.max_held:  # a flood of distinct clients: start over
                self._held.clear()
        self._held[key] = reservation
