"""Worker pool (filled in by the transcode work)."""

from __future__ import annotations

from reelstream.services import Services


class WorkerPool:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
