"""API clients, open loop: requests are issued at their scheduled times (Poisson, following the
profile) whatever the server's pace, with at most ``inflight`` outstanding. Latency is counted
from the scheduled time, so a request that waited for a free slot because the server was slow
counts that wait (no coordinated omission). Arrivals beyond ``4 x inflight`` waiting are
dropped and counted (``overflow``): the client, not the server, was the limit.

Kinds: ``api.list`` (first page), ``api.get``, ``api.playback`` (videos drawn by popularity),
``api.patch`` (the same title written back, as the token's user: a real write and cache
invalidation that leaves the catalogue as it was).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import httpx

from benchmarks.load.catalogue import Video
from benchmarks.load.client import BudgetSpent, timed
from benchmarks.load.recorder import Recorder


async def one_request(
    http: httpx.AsyncClient,
    recorder: Recorder,
    base_url: str,
    kind: str,
    video: Video,
    scheduled: float,
) -> None:
    api = f"{base_url}/api/v1"
    if kind == "list":
        await timed(
            http,
            recorder,
            "api.list",
            "GET",
            f"{api}/videos",
            scheduled=scheduled,
            params={"limit": 20},
        )
    elif kind == "get":
        await timed(
            http, recorder, "api.get", "GET", f"{api}/videos/{video.id}", scheduled=scheduled
        )
    elif kind == "playback":
        await timed(
            http,
            recorder,
            "api.playback",
            "GET",
            f"{api}/videos/{video.id}/playback",
            scheduled=scheduled,
        )
    elif kind == "patch":
        await timed(
            http,
            recorder,
            "api.patch",
            "PATCH",
            f"{api}/videos/{video.id}",
            scheduled=scheduled,
            json={"title": video.title},
        )
    else:
        raise ValueError(f"unknown API request kind {kind!r}")


async def run_api_clients(
    http: httpx.AsyncClient,
    recorder: Recorder,
    base_url: str,
    *,
    mix: dict[str, float],
    pick: Callable[[], Video],
    arrivals: AsyncIterator[float],
    inflight: int,
    rng: random.Random,
) -> None:
    kinds = list(mix)
    weights = [mix[k] for k in kinds]
    slots = asyncio.Semaphore(inflight)
    pending: set[asyncio.Task[None]] = set()

    async def send(kind: str, video: Video, scheduled: float) -> None:
        async with slots:
            try:
                await one_request(http, recorder, base_url, kind, video, scheduled)
            except BudgetSpent:
                return

    try:
        async for t in arrivals:
            if len(pending) >= 4 * inflight:
                recorder.dropped("api")
                continue
            kind = rng.choices(kinds, weights)[0]
            task = asyncio.create_task(send(kind, pick(), t))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, http.timeout.read or 10.0))
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
