"""Worker wake-ups across processes through Redis pub/sub (``queue.notify.redis``).

Two ``Services`` stand for two processes (say, an api and a worker) sharing one Redis.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.queue.notify.redis import RedisNotifier
from reelstream.services import Services, build_services
from reelstream.videos import repository as videos
from tests.fixtures.redis import RedisServer

POLL_S = 5.0  # the workers' poll interval: a wake-up must come well before it

Start = Callable[[str], Awaitable[tuple[Services, Services]]]


def process_settings(data_dir: Path, redis_url: str) -> Settings:
    return Settings(
        env="development",
        data_dir=data_dir,
        embedded_workers=False,
        poll_interval_s=POLL_S,
        redis_url=redis_url,
        _env_file=None,
    )


@pytest.fixture
async def two_processes(tmp_path: Path) -> AsyncIterator[Start]:
    """Start two processes' services on one Redis URL; closed at the end of the test."""
    async with AsyncExitStack() as stack:

        async def start(redis_url: str) -> tuple[Services, Services]:
            pair: list[Services] = []
            for name in ("a", "b"):
                settings = process_settings(tmp_path / name, redis_url)
                settings.prepare()
                await anyio.to_thread.run_sync(upgrade, settings.resolved_database_url)
                services = build_services(settings)
                stack.push_async_callback(services.close)
                await services.start()
                pair.append(services)
            return pair[0], pair[1]

        yield start


async def _new_video(session: AsyncSession) -> str:
    video = await videos.create_video(session, title="t", filename="t.mp4")
    await videos.mark_uploaded(session, video, source_key="videos/x/source", source_bytes=1)
    return video.id


def notifier(services: Services) -> RedisNotifier:
    assert isinstance(services.notifier, RedisNotifier)
    return services.notifier


async def subscribed(services: Services, timeout: float = 15) -> None:
    with anyio.fail_after(timeout):
        await notifier(services).subscribed.wait()


async def woken_within(services: Services, timeout: float = POLL_S) -> float | None:
    start = time.monotonic()
    if await services.notifier.wait(timeout):
        return time.monotonic() - start
    return None


async def test_a_notify_in_one_process_wakes_the_other(
    redis_url: str, two_processes: Start
) -> None:
    a, b = await two_processes(redis_url)
    await subscribed(a)
    await subscribed(b)
    for _ in range(3):
        a.notifier.notify()
        latency = await woken_within(b)
        assert latency is not None and latency < 1.0, latency
        assert await woken_within(a, 0.1) is not None  # the local workers too
    b.notifier.notify()
    latency = await woken_within(a)
    assert latency is not None and latency < 1.0


async def test_a_job_committed_in_one_process_wakes_the_other(
    redis_url: str, two_processes: Start
) -> None:
    a, b = await two_processes(redis_url)
    await subscribed(a)
    await subscribed(b)
    with pytest.raises(RuntimeError):
        async with a.db.transaction() as s:
            await a.queue.enqueue(s, await _new_video(s))
            raise RuntimeError("abort")
    assert await woken_within(b, 0.3) is None  # rolled back: nobody is woken
    async with a.db.transaction() as s:
        await a.queue.enqueue(s, await _new_video(s))
    latency = await woken_within(b)
    assert latency is not None and latency < 1.0, latency


async def test_wakeups_resume_after_redis_restarts(
    own_redis: RedisServer, two_processes: Start
) -> None:
    a, b = await two_processes(own_redis.url)
    await subscribed(b)

    own_redis.stop()
    start = time.monotonic()
    a.notifier.notify()  # must neither raise nor block
    assert time.monotonic() - start < 0.05
    assert await woken_within(b, 0.5) is None  # lost: b falls back to polling

    own_redis.start()
    await subscribed(b)  # the subscriber reconnected by itself
    await woken_within(b, 0.2)  # it wakes itself once after reconnecting; drain that
    a.notifier.notify()
    latency = await woken_within(b)
    assert latency is not None and latency < 1.0, latency


async def test_with_redis_down_notify_is_harmless_and_wait_times_out(
    own_redis: RedisServer, two_processes: Start
) -> None:
    own_redis.stop()
    a, b = await two_processes(own_redis.url)  # start() with Redis down does not fail
    start = time.monotonic()
    for _ in range(20):
        a.notifier.notify()
    assert time.monotonic() - start < 0.05
    assert await woken_within(a, 0.1) is not None  # local workers are still woken
    start = time.monotonic()
    assert await b.notifier.wait(0.3) is False
    assert 0.25 < time.monotonic() - start < 1.0
