"""Redis pub/sub wake-ups (being written)."""

from __future__ import annotations

from reelstream.queue.notify import Notifier


class RedisNotifier(Notifier):
    def __init__(self, url: str) -> None:
        raise NotImplementedError("Redis wake-ups are not written yet")
