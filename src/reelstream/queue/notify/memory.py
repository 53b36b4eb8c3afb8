"""The in-process notifier: wakes the workers of this process only (one process, or a test)."""

from __future__ import annotations

from reelstream.queue.notify.base import Notifier


class MemoryNotifier(Notifier):
    def _broadcast(self) -> None:
        """Nobody else to tell: other processes find the job at their next poll."""
