"""Run a job's work while keeping its lease alive.

Every ``every_s`` seconds the lease is renewed (with the work's progress and timeline stages).
When a renewal is refused, the lease has expired or another worker owns the job: the work is
cancelled (which kills its ffmpeg) and ``LeaseLost`` is raised. A renewal that fails for
another reason (a busy database) is logged and tried again at the next beat; it never kills
the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from reelstream.queue.errors import LeaseLost
from reelstream.queue.jobs import JobQueue, Lease, Stages

log = logging.getLogger(__name__)

T = TypeVar("T")


async def run_with_heartbeats(
    queue: JobQueue,
    lease: Lease,
    work: Coroutine[Any, Any, T],
    *,
    every_s: float,
    progress: Callable[[], float | None] = lambda: None,
    stages: Callable[[], Stages | None] = lambda: None,
) -> T:
    task = asyncio.create_task(work)
    lost = False

    async def beat() -> None:
        nonlocal lost
        while not task.done():
            await asyncio.sleep(every_s)
            try:
                alive = await queue.heartbeat(lease, progress(), stages())
            except Exception as exc:  # a busy database must not kill the work
                log.warning("video %s: heartbeat failed: %s", lease.video_id, exc)
                continue
            if not alive:
                lost = True
                task.cancel()
                return

    beats = asyncio.create_task(beat())
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if lost and current is not None and not current.cancelling():
            raise LeaseLost("the job's lease was lost (expired or taken over)") from None
        raise
    finally:
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
