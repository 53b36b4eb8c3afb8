"""PostgreSQL LISTEN/NOTIFY wake-ups (being written)."""

from __future__ import annotations

from reelstream.queue.notify import Notifier


class PgNotifier(Notifier):
    def __init__(self, url: str) -> None:
        raise NotImplementedError("PostgreSQL wake-ups are not written yet")
