"""The notifier interface: wake idle workers, so a new job starts at once instead of at the
next poll.

``notify()`` wakes the workers of this process (``wake_local``) and, in backends that can,
the workers of other processes (``_broadcast``); ``wait()`` is what an idle worker awaits.
A lost wake-up only delays a job until the next poll (``poll_interval_s``), so notifiers are
best-effort accelerators and never raise to their callers.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

CHANNEL = "reelstream_jobs"
"""The PostgreSQL LISTEN/NOTIFY channel and the Redis pub/sub channel."""


class Notifier(ABC):
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """A job is ready: wake local workers, and remote ones where the backend can."""
        self.wake_local()
        self._broadcast()

    def wake_local(self) -> None:
        self._event.set()

    @abstractmethod
    def _broadcast(self) -> None:
        """Tell other processes; must not block or raise."""

    async def wait(self, timeout: float) -> bool:
        """Wait for a notification or the timeout; True when notified."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    async def start(self) -> None:
        """Begin listening to other processes (backends that can)."""
        return None

    async def close(self) -> None:
        """Stop listening (backends that listen)."""
        return None
