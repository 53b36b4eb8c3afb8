"""Open-loop arrivals: a Poisson process whose rate follows the profile (thinning).

Gaps are drawn at the peak rate and each candidate is kept with probability
``rate(t) / peak``: the standard way to sample a Poisson process with a time-varying rate.
The loop ends at the deadline or when ``stop`` is set; the number of candidates is bounded by
the deadline (a gap is never zero: expovariate returns > 0 almost surely, and ``MIN_GAP_S``
bounds it below anyway).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Callable

MIN_GAP_S = 1e-4


async def arrivals(
    rate: Callable[[float], float],
    peak: float,
    *,
    now: Callable[[], float],
    deadline: float,
    stop: asyncio.Event,
    rng: random.Random,
) -> AsyncGenerator[float, None]:
    """Yields the scheduled time of each arrival (seconds on ``now``'s clock), on time."""
    if peak <= 0:
        return
    t = now()
    while not stop.is_set():
        t += max(MIN_GAP_S, rng.expovariate(peak))
        if t >= deadline:
            return
        delay = t - now()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
        if rng.random() * peak < rate(t):
            yield t
