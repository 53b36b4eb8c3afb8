"""An in-process cache with expiry: the fake for unit tests."""

from __future__ import annotations

import time

from reelstream.cache.base import Cache


class MemoryCache(Cache):
    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}

    async def get(self, key: str) -> bytes | None:
        hit = self._data.get(key)
        if hit is None or hit[1] < time.monotonic():
            self._data.pop(key, None)
            return None
        return hit[0]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._data[key] = (value, time.monotonic() + ttl_s)

    async def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl_s)
        return True

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)
