"""A background task that runs a coroutine every interval, for the in-memory buffers that are
written to the database in batches (view counts, QoE sessions).

``stop`` ends the loop without cutting a write in half: a flush in progress is let finish (up
to ``stop_wait_s``, e.g. through a database outage), never cancelled halfway through its
transaction (on SQLite that could leave the write lock held, and every later write would fail
with ``database is locked``); then ``flush`` runs once more, so what was pending is written. A
failing flush is logged and the next interval tries again: the loop never dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

STOP_WAIT_S = 30.0


class PeriodicFlush:
    def __init__(
        self,
        flush: Callable[[], Awaitable[None]],
        interval_s: float,
        *,
        name: str,
        stop_wait_s: float = STOP_WAIT_S,
    ) -> None:
        self.flush = flush
        self.interval_s = interval_s
        self.name = name
        self.stop_wait_s = stop_wait_s
        self._task: asyncio.Task[None] | None = None
        self._halt = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._halt = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop the loop (a flush in progress finishes) and flush what is pending."""
        if self._task is not None:
            self._halt.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.stop_wait_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt.wait(), self.interval_s)
            if self._halt.is_set():
                return  # stop() writes what is left
            try:
                await self.flush()
            except Exception:  # never let the loop die: the next interval tries again
                log.exception("%s failed", self.name)
