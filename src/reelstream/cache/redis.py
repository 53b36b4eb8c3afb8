"""Redis cache (being written)."""

from __future__ import annotations

from reelstream.cache import Cache


class RedisCache(Cache):
    def __init__(self, url: str) -> None:
        raise NotImplementedError("the Redis cache is not written yet")
