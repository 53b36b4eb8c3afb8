"""A cache for hot metadata: an accelerator, never the source of truth.

``Cache`` is the interface; ``NullCache`` (no cache: the embedded default), ``MemoryCache``
(the fake for unit tests) and ``redis.RedisCache`` implement it. Every implementation swallows
its own failures: a cache that is down makes requests slower, never failed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reelstream.config import Settings
    from reelstream.observability.metrics import Metrics


class Cache:
    """The interface, and the no-op implementation (every lookup misses)."""

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        return None

    async def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store only if ``key`` is absent (atomic); True when stored."""
        return False

    async def delete(self, *keys: str) -> None:
        return None

    async def close(self) -> None:
        return None


NullCache = Cache


class MemoryCache(Cache):
    """In-process cache with expiry: the fake for unit tests."""

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


def create_cache(settings: Settings, metrics: Metrics | None = None) -> Cache:
    if settings.redis_url:
        from reelstream.cache.redis import RedisCache

        return RedisCache(settings.redis_url, metrics=metrics)
    return NullCache()
