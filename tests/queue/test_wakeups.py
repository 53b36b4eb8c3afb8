"""Workers are woken from the commit of a transaction that made a job ready, never by hand:
after the commit (not before), once per commit, and never after a rollback."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.base import utcnow
from reelstream.db.models import Job
from reelstream.queue.notify import MemoryNotifier, Notifier
from reelstream.queue.wakeups import ready_kinds
from reelstream.services import Services
from reelstream.videos import repository as videos


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services


@pytest.fixture
def wakes(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per ``notify()`` of the services' notifier."""
    calls: list[int] = []
    real = services.notifier.notify

    def notify() -> None:
        calls.append(1)
        real()

    monkeypatch.setattr(services.notifier, "notify", notify)
    return calls


async def _drain(notifier: Notifier) -> None:
    while await notifier.wait(0.01):
        pass


async def _new_video(session: AsyncSession) -> str:
    video = await videos.create_video(session, title="t", filename="t.mp4")
    await videos.mark_uploaded(session, video, source_key="videos/x/source", source_bytes=1)
    return video.id


def test_without_redis_or_postgres_the_notifier_is_in_process(services: Services) -> None:
    if services.db.is_sqlite:
        assert isinstance(services.notifier, MemoryNotifier)


async def test_a_committed_enqueue_wakes_a_waiting_worker_after_the_commit(
    services: Services, wakes: list[int]
) -> None:
    await _drain(services.notifier)
    waiting = asyncio.create_task(services.notifier.wait(5))
    async with services.db.transaction() as s:
        await services.queue.enqueue(s, await _new_video(s))
        assert ready_kinds(s) == {"transcode"}
        await asyncio.sleep(0.05)
        assert not waiting.done(), "woken before the job could be seen"
    assert await asyncio.wait_for(waiting, 1.0) is True
    assert wakes == [1]


async def test_a_rolled_back_enqueue_wakes_nobody(services: Services, wakes: list[int]) -> None:
    await _drain(services.notifier)
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as s:
            await services.queue.enqueue(s, await _new_video(s))
            raise RuntimeError("abort")
    assert await services.notifier.wait(0.3) is False
    assert wakes == []
    async with services.db.transaction() as s:  # the next commit does not inherit the mark
        await _new_video(s)
    assert wakes == []


async def test_one_wake_per_commit_whatever_was_enqueued(
    services: Services, wakes: list[int]
) -> None:
    async with services.db.transaction() as s:
        vid = await _new_video(s)
        await services.queue.enqueue(s, vid)
        await services.queue.enqueue(s, vid, kind="poster")
        await services.queue.enqueue(s, vid, kind="poster")
        assert ready_kinds(s) == {"transcode", "poster"}
    assert wakes == [1]
    async with services.db.transaction() as s:
        await _new_video(s)  # a commit that queues nothing wakes nobody
    assert wakes == [1]


async def test_the_reaper_requeueing_an_expired_job_wakes_the_workers(
    services: Services, wakes: list[int]
) -> None:
    async with services.db.transaction() as s:
        await services.queue.enqueue(s, await _new_video(s))
    async with services.db.transaction() as s:
        lease = await services.queue.claim(s, "w1")
    assert lease is not None
    async with services.db.transaction() as s:
        past = utcnow() - dt.timedelta(seconds=1)
        await s.execute(update(Job).where(Job.id == lease.job_id).values(lease_expires_at=past))
    del wakes[:]
    await _drain(services.notifier)
    async with services.db.transaction() as s:
        expired, _ = await services.queue.reap(s)
    assert [e.job_id for e in expired] == [lease.job_id]
    assert wakes == [1]
    assert await services.notifier.wait(1.0) is True
