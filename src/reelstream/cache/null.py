"""No cache at all (the embedded default): every lookup misses, every write is dropped."""

from __future__ import annotations

from reelstream.cache.base import Cache


class NullCache(Cache):
    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        return None

    async def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        return False

    async def delete(self, *keys: str) -> None:
        return None
