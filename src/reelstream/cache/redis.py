"""The Redis cache: fast when Redis answers, harmless when it does not.

Every call is bounded by short socket timeouts (``timeout_s``, 0.25 s by default, no retries)
and runs behind a circuit breaker: after a failure the cache is skipped for ``breaker_s``
seconds (lookups miss, writes are dropped), then one call probes Redis again while the others
keep skipping it. So a dead or hung Redis costs one short timeout per ``breaker_s`` at most,
not one per request. Errors never reach callers: an outage is logged once when it begins and
once when Redis answers again; every failed call is counted in
``reelstream_cache_errors_total{op}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from reelstream.cache.base import Cache

if TYPE_CHECKING:
    from reelstream.observability.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S: Final = 0.25
DEFAULT_BREAKER_S: Final = 5.0


def fail_fast_client(url: str, timeout_s: float) -> aioredis.Redis:
    """A Redis client that gives up at once: short connect and command timeouts, no retries,
    no health-check round trips (callers fall back when Redis is away)."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class _Skipped:
    """The call did not reach Redis (breaker open, or it failed)."""


SKIPPED: Final = _Skipped()


class CircuitBreaker:
    """Closed (calls go through) → open for ``period_s`` after a failure → half-open: one
    probe call at a time until a call succeeds (closed) or fails (open again)."""

    def __init__(self, period_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s = period_s
        self._clock = clock
        self._open_until = 0.0
        self._tripped = False
        self._probing = False

    @property
    def is_closed(self) -> bool:
        return not self._tripped

    def allow(self) -> bool:
        """May a call go to Redis now? In half-open state only one caller gets True."""
        if not self._tripped:
            return True
        if self._probing or self._clock() < self._open_until:
            return False
        self._probing = True
        return True

    def succeeded(self) -> bool:
        """Record a success; True when this closed a tripped breaker (Redis is back)."""
        recovered = self._tripped
        self._tripped = False
        self._probing = False
        return recovered

    def failed(self) -> bool:
        """Record a failure and open the breaker; True when this begins an outage (the one
        failure worth a warning: later ones, until a success, are only counted)."""
        began = not self._tripped
        self._tripped = True
        self._probing = False
        self._open_until = self._clock() + self.period_s
        return began

    def abandoned(self) -> None:
        """A call that was allowed ended without an outcome (cancelled): free the probe."""
        self._probing = False


class RedisCache(Cache):
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        breaker_s: float = DEFAULT_BREAKER_S,
        metrics: Metrics | None = None,
    ) -> None:
        self._client = fail_fast_client(url, timeout_s)
        # A hard bound over connect + command, whatever the socket layer does.
        self._deadline_s = 2 * timeout_s
        self.breaker = CircuitBreaker(breaker_s)
        self._metrics = metrics

    async def _call(self, op: str, call: Callable[[], Awaitable[T]]) -> T | _Skipped:
        if not self.breaker.allow():
            return SKIPPED
        settled = False
        try:
            async with asyncio.timeout(self._deadline_s):
                result = await call()
            settled = True
        except Exception as exc:  # an accelerator must never fail a request
            settled = True
            if self._metrics is not None:
                self._metrics.cache_errors.labels(op).inc()
            if self.breaker.failed():
                log.warning(
                    "Redis cache unavailable (%s: %s); going on without it for %.0f s",
                    op,
                    str(exc) or type(exc).__name__,
                    self.breaker.period_s,
                )
            return SKIPPED
        finally:
            if not settled:
                self.breaker.abandoned()
        if self.breaker.succeeded():
            log.info("Redis cache reachable again")
        return result

    async def get(self, key: str) -> bytes | None:
        value = await self._call("get", lambda: self._client.get(key))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._call("set", lambda: self._client.set(key, value, px=_ms(ttl_s)))

    async def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        stored = await self._call(
            "add", lambda: self._client.set(key, value, px=_ms(ttl_s), nx=True)
        )
        return stored is True

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._call("delete", lambda: self._client.delete(*keys))

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception as exc:
            log.debug("closing the Redis cache client: %s", exc)


def _ms(ttl_s: float) -> int:
    return max(1, round(ttl_s * 1000))
