"""The Redis cache when Redis is dead or hung: short timeouts, a circuit breaker, no errors."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from reelstream.cache.redis import CircuitBreaker, RedisCache
from reelstream.observability.metrics import Metrics
from tests.fixtures.redis import RedisServer

LOGGER = "reelstream.cache.redis"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_on_failure_then_lets_one_probe_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(5.0, clock)
    assert breaker.allow() and breaker.allow()  # closed: everyone goes
    assert breaker.failed() is True  # first failure: log it
    assert not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.2  # period over: half-open
    assert breaker.allow() is True  # the probe
    assert breaker.allow() is False  # everyone else still skips while it runs
    assert breaker.failed() is False  # still the same outage: not logged again
    clock.now += 5.1
    assert breaker.allow() is True
    assert breaker.succeeded() is True  # recovered
    assert breaker.allow() and breaker.allow() and breaker.is_closed
    assert breaker.failed() is True  # a new outage


def test_breaker_frees_an_abandoned_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1.0, clock)
    breaker.failed()
    clock.now += 1.5
    assert breaker.allow()
    breaker.abandoned()  # the probing call was cancelled
    assert breaker.allow()


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


async def test_a_hung_redis_costs_one_short_timeout_per_breaker_period(
    hung_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    cache = RedisCache(hung_redis, timeout_s=0.25, breaker_s=30, metrics=metrics)
    caplog.set_level(logging.INFO, LOGGER)
    try:
        start = time.monotonic()
        assert await cache.get("k") is None
        first = time.monotonic() - start
        assert 0.2 <= first < 1.0, first  # waited for the short timeout, not longer

        start = time.monotonic()
        for _ in range(50):
            assert await cache.get("k") is None
            await cache.set("k", b"v", 10)
            assert await cache.add("k", b"v", 10) is False
            await cache.delete("k")
        assert time.monotonic() - start < 0.2  # the breaker skips Redis: no more timeouts
    finally:
        await cache.close()
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert metrics.cache_errors.labels("get")._value.get() == 1


async def test_a_stopped_redis_is_skipped_and_used_again_once_back(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    cache = RedisCache(own_redis.url, breaker_s=0.5, metrics=metrics)
    caplog.set_level(logging.INFO, LOGGER)
    try:
        await cache.set("k", b"before", 30)
        assert await cache.get("k") == b"before"

        own_redis.stop()
        for _ in range(20):  # nothing raises; every lookup misses
            assert await cache.get("k") is None
            await cache.set("k", b"during", 30)
            await cache.delete("k")
        assert not cache.breaker.is_closed
        errors = sum(
            metrics.cache_errors.labels(op)._value.get() for op in ("get", "set", "delete")
        )
        assert errors == 1  # one failed call opened the breaker; the rest skipped Redis

        own_redis.start()
        deadline = time.monotonic() + 10
        while await cache.get("k") is None:  # empty after the restart; fill until it sticks
            assert time.monotonic() < deadline, "the cache never came back"
            await cache.set("k", b"after", 30)
        assert await cache.get("k") == b"after"
        assert cache.breaker.is_closed
    finally:
        await cache.close()
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert sum("unavailable" in m for m in messages) == 1, messages
    assert any("reachable again" in m for m in messages), messages
