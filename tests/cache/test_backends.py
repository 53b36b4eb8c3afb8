"""The ``Cache`` contract, the same on every backend (memory, Redis)."""

from __future__ import annotations

import asyncio

from reelstream.cache import Cache, NullCache


async def test_a_missing_key_is_none(cache: Cache) -> None:
    assert await cache.get("reelstream:test:absent") is None


async def test_set_then_get_returns_the_bytes(cache: Cache) -> None:
    value = bytes(range(256)) * 4  # any bytes, not only text
    await cache.set("reelstream:test:k", value, ttl_s=30)
    assert await cache.get("reelstream:test:k") == value


async def test_set_overwrites(cache: Cache) -> None:
    await cache.set("reelstream:test:k", b"one", ttl_s=30)
    await cache.set("reelstream:test:k", b"two", ttl_s=30)
    assert await cache.get("reelstream:test:k") == b"two"


async def test_entries_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set("reelstream:test:short", b"v", ttl_s=0.2)
    await cache.set("reelstream:test:long", b"v", ttl_s=30)
    assert await cache.get("reelstream:test:short") == b"v"
    await asyncio.sleep(0.4)
    assert await cache.get("reelstream:test:short") is None
    assert await cache.get("reelstream:test:long") == b"v"


async def test_delete_removes_keys_and_ignores_missing_ones(cache: Cache) -> None:
    for key in ("a", "b", "c"):
        await cache.set(f"reelstream:test:{key}", key.encode(), ttl_s=30)
    await cache.delete("reelstream:test:a", "reelstream:test:b", "reelstream:test:nope")
    await cache.delete()
    assert await cache.get("reelstream:test:a") is None
    assert await cache.get("reelstream:test:b") is None
    assert await cache.get("reelstream:test:c") == b"c"


async def test_add_stores_only_when_the_key_is_absent(cache: Cache) -> None:
    assert await cache.add("reelstream:test:k", b"first", ttl_s=0.2) is True
    assert await cache.add("reelstream:test:k", b"second", ttl_s=30) is False
    assert await cache.get("reelstream:test:k") == b"first"
    await asyncio.sleep(0.4)  # expired: absent again
    assert await cache.add("reelstream:test:k", b"third", ttl_s=30) is True
    assert await cache.get("reelstream:test:k") == b"third"


async def test_close_is_safe(cache: Cache) -> None:
    await cache.set("reelstream:test:k", b"v", ttl_s=30)
    await cache.close()


async def test_the_null_cache_stores_nothing() -> None:
    cache = NullCache()
    await cache.set("reelstream:test:k", b"v", ttl_s=30)
    assert await cache.get("reelstream:test:k") is None
    assert await cache.add("reelstream:test:k", b"v", ttl_s=30) is False
    await cache.delete("reelstream:test:k")
    await cache.close()
