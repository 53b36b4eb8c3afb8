"""The rate limiter: moving windows from the ``limits`` library over a shared storage.

Storage: in memory (one count per process) by default; with ``redis_url`` set, the ``limits``
asynchronous Redis storage through the ``redis`` package's asyncio client (``implementation=
"redispy"``: the default, coredis, is not a dependency), so every api instance shares the
counts. If that storage cannot be built, the limiter warns and keeps counts in memory.

With Redis, hits are reserved in batches (``reelstream.ratelimit.batches``: one round trip per
batch, never more than the limit across processes).

Redis is an accelerator, never a reason to refuse service: a storage error (or a call slower
than ``deadline_s``) lets the request through, and the circuit breaker of the Redis cache
(``reelstream.cache.redis.CircuitBreaker``) then skips the storage for ``breaker_s`` seconds, so
an outage costs one short timeout per period and one warning when it begins.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Literal, get_args

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from reelstream.cache.redis import CircuitBreaker
from reelstream.config import Settings
from reelstream.ratelimit.batches import HOLD_S, Reservation, Reservations, batch_size

log = logging.getLogger(__name__)

Category = Literal["login", "login_ip", "signup", "upload", "tokens", "writes", "reads", "beacons"]
CATEGORIES: tuple[Category, ...] = get_args(Category)

DEFAULT_TIMEOUT_S = 0.25
DEFAULT_BREAKER_S = 5.0
KEY_PREFIX = "reelstream:rl"
MAX_REFUSED = 10_000  # refused clients remembered per process (RateLimiter._still_refused)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one hit: allowed or not, and what the ``RateLimit-*`` headers say
    (the most restrictive of the category's limits)."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the window frees a slot (Retry-After when refused)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_s))
        return headers


def limits_of(settings: Settings) -> dict[Category, list[RateLimitItem]]:
    return {c: parse_many(getattr(settings, f"rate_limit_{c}")) for c in CATEGORIES}


class RateLimiter:
    def __init__(
        self,
        settings: Settings,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        breaker_s: float = DEFAULT_BREAKER_S,
        batched: bool | None = None,
    ) -> None:
        self.enabled = settings.rate_limit_enabled
        self.limits = limits_of(settings)
        self._redis_url = settings.redis_url
        self._timeout_s = timeout_s
        self._deadline_s = 4 * timeout_s
        self.breaker = CircuitBreaker(breaker_s)
        self._storage: Storage | None = None
        self._strategy: MovingWindowRateLimiter | None = None
        self.backend: Literal["memory", "redis"] = "memory"
        # (category, key) -> (epoch when the refusing limit frees a slot, its amount): a
        # client over its limit is refused from here until then, without the storage
        self._refused: dict[tuple[Category, str], tuple[float, int]] = {}
        # hits reserved in batches (ratelimit.batches): with a shared storage only, where a
        # hit is a round trip; None: decided when the storage is built
        self.batched = batched
        self._reservations = Reservations()
        self._refills: set[asyncio.Task[None]] = set()

    def _build(self) -> MovingWindowRateLimiter:
        """The storage is built on first use, inside the event loop (the asyncio memory
        storage of ``limits`` schedules a task when it is created)."""
        if self._strategy is not None:
            return self._strategy
        storage: Storage | None = None
        if self._redis_url:
            try:
                storage = RedisStorage(
                    "async+" + self._redis_url,
                    implementation="redispy",
                    key_prefix=KEY_PREFIX,
                    wrap_exceptions=True,
                    socket_timeout=self._timeout_s,
                    socket_connect_timeout=self._timeout_s,
                )
                self.backend = "redis"
            except Exception as exc:
                log.warning(
                    "rate limits: cannot use Redis storage (%s); counting in memory, per "
                    "process, instead",
                    exc,
                )
        if storage is None:
            storage = MemoryStorage()
        self._storage = storage
        if self.batched is None:
            self.batched = self.backend == "redis"
        self._strategy = MovingWindowRateLimiter(storage)
        return self._strategy

    async def hit(self, category: Category, key: str) -> Verdict | None:
        """Count one request of ``category`` for ``key``. None: not limited (disabled, or the
        storage is unavailable)."""
        if not self.enabled:
            return None
        refused = self._still_refused(category, key)
        if refused is not None:
            return refused
        strategy = self._build()
        if not self.breaker.allow():
            return None
        settled = False
        try:
            if self.backend == "memory":  # no I/O: nothing to time out
                verdict = await self._hit(strategy, category, key)
            else:
                async with asyncio.timeout(self._deadline_s):
                    verdict = await self._hit(strategy, category, key)
            settled = True
        except Exception as exc:  # a limiter outage must never fail a request
            settled = True
            if self.breaker.failed():
                log.warning(
                    "rate limits: %s storage unavailable (%s); requests are not limited for %.0f s",
                    self.backend,
                    str(exc) or type(exc).__name__,
                    self.breaker.period_s,
                )
            return None
        finally:
            if not settled:
                self.breaker.abandoned()
        if self.breaker.succeeded():
            log.info("rate limits: %s storage reachable again", self.backend)
        return verdict

    def refused(self, category: Category, key: str) -> Verdict | None:
        """The refusal of ``key``, if it was refused and is still over its limit (no I/O,
        nothing counted); None otherwise, or when limits are off."""
        return self._still_refused(category, key) if self.enabled else None

    def _still_refused(self, category: Category, key: str) -> Verdict | None:
        """The refusal of a client that was refused and whose window has freed no slot yet.

        Exact, not an approximation: a moving window does not count refused hits, so nothing
        the client sends before the refusing limit's oldest hit expires can be allowed; with
        Redis every process sees the same window, so the same instant. A 429 then costs a
        dict lookup (``benchmarks/serving.py``: it must cost less than a served read)."""
        memo = self._refused.get((category, key))
        if memo is None:
            return None
        until, limit = memo
        left = until - time.time()
        if left <= 0:
            del self._refused[(category, key)]
            return None
        return Verdict(False, limit, 0, math.ceil(left))

    def _remember_refusal(self, category: Category, key: str, until: float, limit: int) -> None:
        if len(self._refused) >= MAX_REFUSED:
            now = time.time()
            self._refused = {k: v for k, v in self._refused.items() if v[0] > now}
            if len(self._refused) >= MAX_REFUSED:  # a flood of distinct clients: start over
                self._refused.clear()
        self._refused[(category, key)] = (until, limit)

    async def _hit(
        self, strategy: MovingWindowRateLimiter, category: Category, key: str
    ) -> Verdict:
        worst: Verdict | None = None
        allowed = True
        for index, item in enumerate(self.limits[category]):
            verdict = await self._hit_one(strategy, category, key, index, item)
            ok = verdict.allowed
            allowed = allowed and ok
            if (
                worst is None
                or (worst.allowed and not ok)
                or (worst.allowed == ok and verdict.remaining < worst.remaining)
            ):
                worst = verdict
        assert worst is not None
        return Verdict(allowed, worst.limit, worst.remaining, worst.reset_s)

    async def _hit_one(
        self,
        strategy: MovingWindowRateLimiter,
        category: Category,
        key: str,
        index: int,
        item: RateLimitItem,
    ) -> Verdict:
        """One limit's verdict: from a reserved hit when batching (``ratelimit.batches``),
        else one hit in the storage."""
        batch = batch_size(item.amount) if self.batched else 1
        if batch > 1:
            held = self._reservations.spend((category, key, index))
            if held is not None:
                if held.left == batch // 2 and not held.refilling:  # half spent: the next one
                    held.refilling = True
                    task = asyncio.create_task(
                        self._refill(strategy, category, key, item, batch, held),
                        name="ratelimit-refill",
                    )
                    self._refills.add(task)
                    task.add_done_callback(self._refills.discard)
                reset_s = max(0, math.ceil(held.reset_at - time.time()))
                return Verdict(True, item.amount, held.remaining + held.left, reset_s)
            if await strategy.hit(item, category, key, cost=batch):
                stats = await strategy.get_window_stats(item, category, key)
                reservation = Reservation(
                    batch - 1, time.monotonic() + HOLD_S, stats.remaining, stats.reset_time
                )
                self._reservations.hold((category, key, index), reservation)
                reset_s = max(0, math.ceil(stats.reset_time - time.time()))
                return Verdict(True, item.amount, stats.remaining + batch - 1, reset_s)
            # no room for a whole batch: the last hits of the window are counted one by one
        ok = await strategy.hit(item, category, key)
        stats = await strategy.get_window_stats(item, category, key)
        if not ok:
            self._remember_refusal(category, key, stats.reset_time, item.amount)
        reset_s = max(0, math.ceil(stats.reset_time - time.time()))
        return Verdict(ok, item.amount, stats.remaining, reset_s)

    async def _refill(
        self,
        strategy: MovingWindowRateLimiter,
        category: Category,
        key: str,
        item: RateLimitItem,
        batch: int,
        held: Reservation,
    ) -> None:
        """Reserve the next batch of ``held`` in the background (no room: the client's next
        requests reserve or count one by one, as usual)."""
        try:
            async with asyncio.timeout(self._deadline_s):
                if await strategy.hit(item, category, key, cost=batch):
                    stats = await strategy.get_window_stats(item, category, key)
                    held.refill(batch, stats.remaining, stats.reset_time)
        except Exception as exc:  # the request path handles outages (breaker); just stop
            log.debug("rate limits: reserving the next batch failed: %s", exc)
        finally:
            held.refilling = False

    async def close(self) -> None:
        for task in list(self._refills):
            task.cancel()
        storage = self._storage
        if isinstance(storage, MemoryStorage):
            timer = storage.timer
            if timer is not None and not timer.done():
                timer.cancel()
        elif isinstance(storage, RedisStorage):
            client = getattr(storage.bridge, "storage", None)  # the redis.asyncio client
            try:
                if client is not None:
                    await client.aclose()
            except Exception as exc:
                log.debug("closing the rate-limit Redis client: %s", exc)
