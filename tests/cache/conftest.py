"""The ``cache`` fixture: every cache backend, so the same tests run on each."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reelstream.cache import Cache, MemoryCache
from reelstream.cache.redis import RedisCache


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    url: str = request.getfixturevalue("redis_url")
    redis_cache = RedisCache(url)
    try:
        yield redis_cache
    finally:
        await redis_cache.close()
