"""Wake-ups for idle workers, so a new job starts at once instead of at the next poll.

``Notifier`` wakes the workers of this process. Subclasses also reach workers in other
processes: ``notify_pg.PgNotifier`` (PostgreSQL LISTEN/NOTIFY) and ``notify_redis.RedisNotifier``
(Redis pub/sub). A lost wake-up only delays a job until the next poll (``poll_interval_s``), so
notifiers are best-effort accelerators and never raise to their callers.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reelstream.config import Settings

CHANNEL = "reelstream_jobs"


class Notifier:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """A job is ready: wake local workers, and remote ones where the subclass can."""
        self.wake_local()
        self._broadcast()

    def wake_local(self) -> None:
        self._event.set()

    def _broadcast(self) -> None:
        """Tell other processes (subclasses); must not block or raise."""

    async def wait(self, timeout: float) -> bool:
        """Wait for a notification or the timeout; True when notified."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    async def start(self) -> None:
        """Begin listening to other processes (subclasses)."""

    async def close(self) -> None:
        """Stop listening (subclasses)."""


def create_notifier(settings: Settings) -> Notifier:
    """Redis pub/sub when Redis is configured, else LISTEN/NOTIFY on PostgreSQL, else local."""
    if settings.redis_url:
        from reelstream.queue.notify_redis import RedisNotifier

        return RedisNotifier(settings.redis_url)
    url = settings.resolved_database_url
    if url.startswith("postgresql"):
        from reelstream.queue.notify_pg import PgNotifier

        return PgNotifier(url)
    return Notifier()
