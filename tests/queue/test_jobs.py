"""The durable queue: exclusive claims, fenced writes, lease expiry, retries with backoff."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select, update

from reelstream.db.base import utcnow
from reelstream.db.models import Job
from reelstream.queue import JobQueue, RetryPolicy
from reelstream.services import Services
from reelstream.videos import repository as videos


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services


async def _new_job(svc: Services) -> str:
    async with svc.db.transaction() as s:
        video = await videos.create_video(s, title="t", filename="t.mp4")
        await videos.mark_uploaded(s, video, source_key="videos/x/source", source_bytes=1)
        await svc.queue.enqueue(s, video.id)
        return video.id


async def _expire(svc: Services, job_id: int) -> None:
    async with svc.db.transaction() as s:
        past = utcnow() - dt.timedelta(seconds=1)
        await s.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=past))


def _finished(svc: Services, outcome: str, kind: str = "transcode") -> float:
    """``reelstream_jobs_finished_total{kind, outcome}`` (the job failure rate alert)."""
    value = svc.metrics.registry.get_sample_value(
        "reelstream_jobs_finished_total", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


def test_retry_policy_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(max_attempts=4, base_s=10, max_s=60, factor=2)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 60]
    assert not policy.exhausted(3)
    assert policy.exhausted(4)


def test_retry_policy_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, base_s=10, max_s=60)
    now = utcnow()
    assert policy.retry_at(1, now) == now + dt.timedelta(seconds=10)
    assert policy.retry_at(2, now, first_at=now) == now + dt.timedelta(seconds=20)
    assert policy.retry_at(3, now) is None
    assert not RetryPolicy(max_attempts=None).exhausted(10**6)


def test_a_job_queue_needs_bounded_attempts(services: Services) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        JobQueue(services.db, RetryPolicy(max_attempts=None), lease_s=60)


async def test_enqueue_is_part_of_the_callers_transaction(services: Services) -> None:
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as s:
            video = await videos.create_video(s, title="t", filename="t.mp4")
            await services.queue.enqueue(s, video.id)
            raise RuntimeError("abort")
    assert await services.queue.counts() == {}


async def test_concurrent_claims_never_share_a_job(services: Services) -> None:
    for _ in range(5):
        await _new_job(services)

    async def claim(n: int):
        async with services.db.transaction() as s:
            return await services.queue.claim(s, f"w{n}")

    leases = await asyncio.gather(*(claim(n) for n in range(12)))
    got = [lease for lease in leases if lease is not None]
    assert len(got) == 5
    assert len({lease.job_id for lease in got}) == 5
    assert all(lease.attempt == 1 for lease in got)
    assert await services.queue.counts() == {"running": 5}


async def test_expired_lease_is_reaped_and_the_old_worker_is_fenced_out(
    services: Services,
) -> None:
    await _new_job(services)
    async with services.db.transaction() as s:
        first = await services.queue.claim(s, "w1")
    assert first is not None
    assert await services.queue.heartbeat(first, 0.5)

    await _expire(services, first.job_id)
    async with services.db.transaction() as s:
        expired, dead = await services.queue.reap(s)
    assert [lease.job_id for lease in expired] == [first.job_id]
    assert [lease.rev for lease in expired] == [first.rev]
    assert dead == []
    assert _finished(services, "retried") == 1  # a dead worker's attempt ends too

    async with services.db.transaction() as s:
        second = await services.queue.claim(s, "w2")
    assert second is not None
    assert second.job_id == first.job_id
    assert second.attempt == 2
    assert second.rev != first.rev

    # The first worker comes back to life: every write it tries is refused.
    assert not await services.queue.heartbeat(first, 0.9)
    async with services.db.transaction() as s:
        assert not await services.queue.complete(s, first)
        assert await services.queue.fail(s, first, "late", retryable=True) is None
    async with services.db.transaction() as s:
        assert await services.queue.complete(s, second)
    assert await services.queue.counts() == {"succeeded": 1}
    # the fenced-out writes counted nothing
    assert (_finished(services, "succeeded"), _finished(services, "retried")) == (1, 1)
    assert _finished(services, "failed") == 0


async def test_a_live_lease_is_not_reaped(services: Services) -> None:
    await _new_job(services)
    async with services.db.transaction() as s:
        assert await services.queue.claim(s, "w1") is not None
    async with services.db.transaction() as s:
        expired, dead = await services.queue.reap(s)
    assert expired == [] and dead == []
    assert await services.queue.counts() == {"running": 1}


async def test_reaper_fails_a_job_out_of_attempts(services: Services) -> None:
    await _new_job(services)
    for attempt in range(1, services.settings.max_attempts + 1):
        async with services.db.transaction() as s:
            lease = await services.queue.claim(s, f"w{attempt}")
        assert lease is not None and lease.attempt == attempt
        await _expire(services, lease.job_id)
        async with services.db.transaction() as s:
            expired, dead = await services.queue.reap(s)
        assert len(expired) == 1
    assert len(dead) == 1
    assert dead[0].attempts == services.settings.max_attempts
    assert "stopped responding" in (dead[0].last_error or "")
    assert await services.queue.counts() == {"failed": 1}
    assert _finished(services, "retried") == services.settings.max_attempts - 1
    assert _finished(services, "failed") == 1


async def test_retryable_failure_waits_for_backoff_then_runs_again(services: Services) -> None:
    await _new_job(services)
    async with services.db.transaction() as s:
        lease = await services.queue.claim(s, "w1")
    assert lease is not None
    async with services.db.transaction() as s:
        outcome = await services.queue.fail(s, lease, "ffmpeg crashed", retryable=True)
    assert outcome is not None and not outcome.final and outcome.retry_at is not None
    assert outcome.retry_at > utcnow()
    assert (_finished(services, "retried"), _finished(services, "failed")) == (1, 0)

    async with services.db.transaction() as s:
        assert await services.queue.claim(s, "w2") is None  # not before run_at
    async with services.db.transaction() as s:
        await s.execute(update(Job).values(run_at=utcnow() - dt.timedelta(seconds=1)))
    async with services.db.transaction() as s:
        again = await services.queue.claim(s, "w2")
    assert again is not None and again.attempt == 2


async def test_permanent_failure_is_final_at_once(services: Services) -> None:
    await _new_job(services)
    async with services.db.transaction() as s:
        lease = await services.queue.claim(s, "w1")
    assert lease is not None
    async with services.db.transaction() as s:
        outcome = await services.queue.fail(s, lease, "no video stream found", retryable=False)
    assert outcome is not None and outcome.final
    async with services.db.read() as s:
        job = (await s.execute(select(Job))).scalar_one()
    assert job.state == "failed"
    assert job.last_error == "no video stream found"
    assert job.attempts == 1
    assert (_finished(services, "retried"), _finished(services, "failed")) == (0, 1)


async def test_backlog_counts_queued_jobs_by_kind_and_the_oldest_ready_wait(
    services: Services,
) -> None:
    """What a worker autoscaler reads: queued jobs by kind, how many are ready now, and how
    long the oldest ready one has waited (a job in a retry's backoff is queued, not ready)."""
    assert await services.queue.backlog() == {}
    ids = [await _new_job(services) for _ in range(3)]
    async with services.db.transaction() as s:
        now = utcnow()
        jobs = (await s.execute(select(Job).where(Job.video_id.in_(ids)))).scalars().all()
        by_video = {j.video_id: j.id for j in jobs}
        waits = {ids[0]: -120, ids[1]: -30, ids[2]: +600}  # the last one waits for a retry
        for vid, offset in waits.items():
            await s.execute(
                update(Job)
                .where(Job.id == by_video[vid])
                .values(run_at=now + dt.timedelta(seconds=offset))
            )
    backlog = await services.queue.backlog()
    assert set(backlog) == {"transcode"}
    b = backlog["transcode"]
    assert (b.queued, b.ready) == (3, 2)
    assert 120 <= b.oldest_ready_s < 120 + 60
    async with services.db.transaction() as s:  # a worker takes the oldest ready job
        assert await services.queue.claim(s, "w1") is not None
    b = (await services.queue.backlog())["transcode"]
    assert (b.queued, b.ready) == (2, 1)
    assert 30 <= b.oldest_ready_s < 120
