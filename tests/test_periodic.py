"""``PeriodicFlush``: the loop behind the batched writes of view counts and QoE sessions."""

from __future__ import annotations

import asyncio

import pytest

from reelstream.periodic import PeriodicFlush

pytestmark = pytest.mark.timeout(30)


async def test_it_flushes_every_interval_survives_a_failure_and_flushes_once_more_at_stop() -> None:
    calls: list[str] = []

    async def flush() -> None:
        calls.append("flush")
        if len(calls) == 1:
            raise RuntimeError("the database is away")  # logged; the next interval tries again

    periodic = PeriodicFlush(flush, 0.02, name="test-flush")
    await periodic.start()
    for _ in range(200):
        if len(calls) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(calls) >= 3  # the failure did not end the loop
    await periodic.stop()
    after = len(calls)
    await asyncio.sleep(0.1)
    assert len(calls) == after  # stopped: no more interval flushes


async def test_stop_lets_a_flush_in_progress_finish_then_writes_what_is_pending() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def flush() -> None:
        if not finished:
            started.set()
            await release.wait()  # a slow transaction
            finished.append("interval")
        else:
            finished.append("final")

    periodic = PeriodicFlush(flush, 0.01, name="test-flush")
    await periodic.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(periodic.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # it waits for the flush in progress, never cancels it
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == ["interval", "final"]
