"""Wake-ups for idle workers, so a new job starts at once instead of at the next poll.

In one process an ``asyncio.Event`` is enough; workers in other processes fall back to polling
every ``poll_interval_s`` (a shared channel such as Redis pub/sub can be added behind this class).
"""

from __future__ import annotations

import asyncio


class Notifier:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for a notification or the timeout; True when notified."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True
