"""``ElectedPool``: of the server processes sharing a data dir (``serve --workers N``), exactly
one runs the job workers, and another takes over when it stops or dies (``FileLock``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from reelstream.fsutil import FileLock
from reelstream.services import Services
from reelstream.worker import ElectedPool


async def wait_for_leader(pools: list[ElectedPool], timeout: float = 10) -> ElectedPool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaders = [p for p in pools if p.leading]
        if leaders:
            await asyncio.sleep(0.3)  # several poll periods: a second leader would show now
            leaders = [p for p in pools if p.leading]
            assert len(leaders) == 1, "two pools run at once"
            return leaders[0]
        await asyncio.sleep(0.02)
    raise AssertionError("no pool took the lead")


async def test_one_pool_leads_and_another_takes_over_when_it_stops(
    services: Services, tmp_path: Path
) -> None:
    lock = tmp_path / "workers.lock"
    pools = [ElectedPool(services, lock, poll_s=0.05) for _ in range(3)]
    try:
        for p in pools:
            await p.start()
        first = await wait_for_leader(pools)
        assert first.pool is not None and first.pool.running
        await first.stop()
        assert not first.leading
        rest = [p for p in pools if p is not first]
        second = await wait_for_leader(rest)
        assert second.pool is not None and second.pool.running
    finally:
        for p in pools:
            await p.stop()
    assert not any(p.leading for p in pools)


def test_the_lock_of_a_killed_holder_is_free_at_once(tmp_path: Path) -> None:
    """SIGKILL releases the flock: the next process takes it without waiting for a timeout."""
    path = tmp_path / "workers.lock"
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from reelstream.fsutil import FileLock\n"
            f"assert FileLock(Path({str(path)!r})).try_acquire(); print('held', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == b"held"
            mine = FileLock(path)
            assert not mine.try_acquire()
        finally:
            holder.kill()
            holder.wait(10)
        assert mine.try_acquire()
        assert FileLock(path).try_acquire() is False  # held by us now
        mine.release()
        assert FileLock(path).try_acquire()
