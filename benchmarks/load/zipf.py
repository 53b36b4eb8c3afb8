"""Skewed popularity across the catalogue (Zipf), sampled with a seeded RNG.

The video of rank ``k`` (1 = most popular) is chosen with probability ``k^-s / H(N, s)``.
How ``s`` is chosen: real catalogues concentrate views (the issue's "~4% of videos draw ~90%
of views"), and how steep ``s`` must be for that depends on the catalogue's size ``N``. So by
default ``s`` is solved for this catalogue: the smallest ``s`` at which the top
``max(1, round(4% of N))`` videos draw 90% of the probability (``s_for_share``, bisection; the
share grows monotonically with ``s``). For 1,000 videos that is s ~ 1.5; for 100, s ~ 2.1;
for 10 (where the top one video must draw 90%), s ~ 3.6. ``--zipf-s`` sets it explicitly.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence


def weights(n: int, s: float) -> list[float]:
    return [k**-s for k in range(1, n + 1)]


def top_share(n: int, s: float, top: int) -> float:
    """The share of draws that land on the ``top`` most popular of ``n`` videos."""
    w = weights(n, s)
    return sum(w[:top]) / sum(w)


def top_count(n: int, fraction: float) -> int:
    return max(1, min(n, round(fraction * n)))


def s_for_share(n: int, top_fraction: float = 0.04, share: float = 0.9) -> float:
    """The ``s`` at which the top ``top_fraction`` of ``n`` videos draw ``share`` of views."""
    if n <= 1:
        return 1.0
    top = top_count(n, top_fraction)
    if top >= n:
        return 0.0
    lo, hi = 0.0, 1.0
    while top_share(n, hi, top) < share and hi < 64:  # bounded: the share tends to 1
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if top_share(n, mid, top) < share:
            lo = mid
        else:
            hi = mid
    return hi


class ZipfSampler:
    """Draws items by Zipf rank; ``items`` are ranked in the order given (first = most popular)."""

    def __init__(self, items: Sequence[str], s: float, rng: random.Random) -> None:
        if not items:
            raise ValueError("the catalogue is empty: nothing to sample")
        self.items = list(items)
        self.s = s
        self.rng = rng
        self._cumulative = list(itertools.accumulate(weights(len(items), s)))

    def rank(self) -> int:
        """A rank, 0-based."""
        x = self.rng.random() * self._cumulative[-1]
        return min(bisect.bisect_right(self._cumulative, x), len(self.items) - 1)

    def sample(self) -> str:
        return self.items[self.rank()]
