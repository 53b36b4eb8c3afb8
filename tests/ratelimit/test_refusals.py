"""A client over its limit is refused from memory until its window frees a slot
(``RateLimiter._still_refused``): the same verdict as the storage's, without asking it, and
allowed again exactly when the storage would allow it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from reelstream.config import Settings
from reelstream.ratelimit.limiter import RateLimiter


class CountingStrategy:
    """Counts the calls that reach the storage."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.hits = 0

    async def hit(self, *args: Any) -> bool:
        self.hits += 1
        ok: bool = await self.inner.hit(*args)
        return ok

    async def get_window_stats(self, *args: Any) -> Any:
        return await self.inner.get_window_stats(*args)


def limiter_with(settings: Settings, reads: str) -> tuple[RateLimiter, CountingStrategy]:
    limiter = RateLimiter(settings.model_copy(update={"rate_limit_reads": reads}))
    counting = CountingStrategy(limiter._build())
    limiter._strategy = counting  # type: ignore[assignment]
    return limiter, counting


def test_a_refused_client_is_refused_without_the_storage(settings: Settings) -> None:
    async def go() -> None:
        limiter, storage = limiter_with(settings, "3/minute")
        verdicts = [await limiter.hit("reads", "1.2.3.4") for _ in range(3)]
        assert all(v is not None and v.allowed for v in verdicts)
        first = await limiter.hit("reads", "1.2.3.4")
        assert first is not None and not first.allowed
        assert storage.hits == 4
        for _ in range(50):
            again = await limiter.hit("reads", "1.2.3.4")
            assert again is not None and not again.allowed
            assert (again.limit, again.remaining) == (3, 0)
            assert 0 < again.reset_s <= first.reset_s
            assert again.headers()["Retry-After"] == str(again.reset_s)
        assert storage.hits == 4  # the 50 refusals never reached the storage
        other = await limiter.hit("reads", "5.6.7.8")  # another client is not affected
        assert other is not None and other.allowed
        await limiter.close()

    asyncio.run(go())


@pytest.mark.timeout(30)
def test_allowed_again_when_the_window_frees_a_slot(settings: Settings) -> None:
    async def go() -> None:
        limiter, storage = limiter_with(settings, "2/2seconds")
        assert (await limiter.hit("reads", "k")).allowed  # type: ignore[union-attr]
        started = time.time()
        assert (await limiter.hit("reads", "k")).allowed  # type: ignore[union-attr]
        refused = await limiter.hit("reads", "k")
        assert refused is not None and not refused.allowed
        deadline = started + 10
        while time.time() < deadline:  # bounded: the slot frees ~2 s after the first hit
            verdict = await limiter.hit("reads", "k")
            assert verdict is not None
            if verdict.allowed:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("never allowed again")
        assert time.time() - started < 2.5
        assert storage.hits >= 4  # it asked the storage again once the memo expired
        await limiter.close()

    asyncio.run(go())
