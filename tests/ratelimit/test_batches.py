"""Hits reserved in batches (``reelstream.ratelimit.batches``): with a shared storage, far fewer
round trips, and never more allowed than the limit, however many processes share it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from reelstream.config import Settings
from reelstream.ratelimit import batches as batches_module
from reelstream.ratelimit import limiter as limiter_module
from reelstream.ratelimit.batches import Reservation, Reservations, batch_size
from reelstream.ratelimit.limiter import RateLimiter


class CountingStrategy:
    """The shared storage (as Redis is for several api processes), counting round trips."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    async def hit(self, *args: Any, **kwargs: Any) -> bool:
        self.calls += 1
        ok: bool = await self.inner.hit(*args, **kwargs)
        return ok

    async def get_window_stats(self, *args: Any) -> Any:
        self.calls += 1
        return await self.inner.get_window_stats(*args)


def processes(settings: Settings, reads: str, n: int) -> tuple[list[RateLimiter], CountingStrategy]:
    """``n`` limiters (processes) over one storage, batching as with Redis."""
    s = settings.model_copy(update={"rate_limit_reads": reads})
    limiters = [RateLimiter(s, batched=True) for _ in range(n)]
    shared = CountingStrategy(limiters[0]._build())
    for limiter in limiters:
        limiter._strategy = shared  # type: ignore[assignment]
    return limiters, shared


def test_batch_sizes() -> None:
    assert [batch_size(a) for a in (1, 10, 199, 200, 3000, 100_000)] == [1, 1, 1, 2, 30, 32]


def test_never_more_than_the_limit_across_processes(settings: Settings) -> None:
    async def go() -> None:
        limiters, storage = processes(settings, "300/minute", 3)  # batches of 3
        allowed = 0
        for i in range(400):
            verdict = await limiters[i % 3].hit("reads", "1.2.3.4")
            assert verdict is not None
            allowed += verdict.allowed
            assert 0 <= verdict.remaining <= 300
        assert 300 - (3 - 1) * 3 <= allowed <= 300  # unspent reservations may refuse early
        assert storage.calls < 2 * 400 / 2  # about two round trips per batch of three
        other = await limiters[0].hit("reads", "5.6.7.8")  # another client: its own window
        assert other is not None and other.allowed
        for limiter in limiters:
            await limiter.close()

    asyncio.run(go())


def test_small_limits_are_counted_one_by_one(settings: Settings) -> None:
    async def go() -> None:
        limiters, storage = processes(settings, "10/minute", 2)
        verdicts = [await limiters[i % 2].hit("reads", "k") for i in range(12)]
        assert [v.allowed for v in verdicts if v is not None] == [True] * 10 + [False] * 2
        assert storage.calls == 2 * 12  # hit + stats each: a process learns a refusal itself
        again = await limiters[0].hit("reads", "k")  # ... and then keeps it in memory
        assert again is not None and not again.allowed
        assert storage.calls == 2 * 12
        for limiter in limiters:
            await limiter.close()

    asyncio.run(go())


def test_a_reservation_is_spent_once_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    held = Reservations()
    key = ("reads", "k", 0)
    held.hold(key, Reservation(2, time.monotonic() + 1.0, 10, time.time() + 60))
    assert held.spend(key) is not None and held.spend(key) is not None
    assert held.spend(key) is None  # both spent
    held.hold(key, Reservation(5, time.monotonic() + 1.0, 10, time.time() + 60))
    later = time.monotonic() + 1.5
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert held.spend(key) is None  # held longer than HOLD_S: dropped


def test_reservations_are_bounded() -> None:
    held = Reservations(max_held=4)
    for i in range(10):
        held.hold(("reads", str(i), 0), Reservation(1, time.monotonic() + 1.0, 1, time.time()))
    assert len(held._held) <= 4


class TaskRecordingStrategy(CountingStrategy):
    """Records which task asked the storage: the request's own, or a background refill."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.askers: list[str] = []

    async def hit(self, *args: Any, **kwargs: Any) -> bool:
        task = asyncio.current_task()
        self.askers.append(task.get_name() if task is not None else "?")
        return await super().hit(*args, **kwargs)


def test_a_steady_client_never_waits_for_the_storage_after_its_first_batch(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a reservation is held HOLD_S (1 s); a busy test machine must not expire it mid-test
    monkeypatch.setattr(limiter_module, "HOLD_S", 60.0)
    monkeypatch.setattr(batches_module, "HOLD_S", 60.0)

    async def go() -> None:
        s = settings.model_copy(update={"rate_limit_reads": "320000/minute"})  # batches of 32
        limiter = RateLimiter(s, batched=True)
        storage = TaskRecordingStrategy(limiter._build())
        limiter._strategy = storage  # type: ignore[assignment]

        async def request() -> None:
            verdict = await limiter.hit("reads", "k")
            assert verdict is not None and verdict.allowed

        for _ in range(32 * 5):
            await asyncio.create_task(request(), name="request")
            await asyncio.sleep(0.005)  # a steady client: requests at a pace, not all at once
        await asyncio.sleep(0.05)
        assert storage.askers[0] == "request"  # the first batch: reserved in the request
        assert storage.askers[1:] and set(storage.askers[1:]) == {"ratelimit-refill"}
        assert len(storage.askers) <= 6  # one reservation per batch of 32
        await limiter.close()

    asyncio.run(go())
