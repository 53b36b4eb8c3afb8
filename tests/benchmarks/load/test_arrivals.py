"""Poisson arrivals that follow a rate over time (thinning), bounded by the deadline."""

from __future__ import annotations

import asyncio
import random
import time

from benchmarks.load.arrivals import arrivals


async def _collect(rate: float, peak: float, seconds: float) -> list[float]:
    t0 = time.monotonic()

    def now() -> float:
        return time.monotonic() - t0

    return [
        t
        async for t in arrivals(
            lambda t: rate,
            peak,
            now=now,
            deadline=seconds,
            stop=asyncio.Event(),
            rng=random.Random(5),
        )
    ]


async def test_arrivals_are_ordered_and_end_at_the_deadline() -> None:
    times = await _collect(400, 400, 0.25)
    assert times == sorted(times)
    assert all(0 < t < 0.25 for t in times)
    assert 40 < len(times) < 200  # ~100 expected


async def test_a_zero_rate_yields_nothing_and_thinning_keeps_about_the_ratio() -> None:
    assert await _collect(0, 400, 0.1) == []
    assert len(await _collect(40, 400, 0.25)) < 40  # ~10 of ~100 candidates kept


async def test_stop_ends_the_arrivals() -> None:
    stop = asyncio.Event()
    stop.set()
    out = [
        t
        async for t in arrivals(
            lambda t: 10, 10, now=time.monotonic, deadline=1e12, stop=stop, rng=random.Random(1)
        )
    ]
    assert out == []
