"""The worker pool in-process: retries, the reaper, leftovers, graceful and forced shutdown."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, update

from reelstream.config import Settings
from reelstream.db.base import utcnow
from reelstream.db.models import Job, Video
from reelstream.processing.jobs import claim_next
from reelstream.processing.runner import work_dir_name
from reelstream.queue.kinds import TRANSCODE
from reelstream.services import Services, build_services
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos
from reelstream.worker import WorkerPool, reap_once, remove_stale_work_dirs
from tests.processing.conftest import ffmpeg_children, queue_video


async def load(services: Services, video_id: str) -> tuple[Video, Job]:
    async with services.db.read() as s:
        video = await videos.get_video(s, video_id)
        job = (
            await s.execute(select(Job).where(Job.video_id == video_id, Job.kind == TRANSCODE))
        ).scalar_one()
    return video, job


async def wait_until(
    services: Services, video_id: str, check: Callable[[Video, Job], bool], timeout: float = 120
) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video, job = await load(services, video_id)
        if check(video, job):
            return job
        await asyncio.sleep(0.1)
    video, job = await load(services, video_id)
    raise AssertionError(f"timed out: video {video.status} {video.error!r}, job {job.state}")


async def test_failing_transcode_is_retried_then_failed(
    prepared: Settings, tmp_path: Path, clip4: Path
) -> None:
    fake = tmp_path / "broken-ffmpeg"
    fake.write_text("#!/bin/sh\necho 'boom: simulated encoder crash' >&2\nexit 1\n")
    fake.chmod(0o755)
    prepared.ffmpeg_path = str(fake)
    prepared.max_attempts = 2
    prepared.retry_base_s = 0.1
    services = build_services(prepared)
    pool = WorkerPool(services)
    try:
        vid = await queue_video(services, clip4)
        await pool.start()
        await wait_until(services, vid, lambda v, j: v.status == "failed")
    finally:
        await pool.stop()
    video, job = await load(services, vid)
    assert video.error == (
        "transcoding failed after 2 attempts: the video could not be encoded: "
        "the encoder failed (exit status 1)"
    )
    assert job.state == "failed" and job.attempts == 2
    assert not await services.store.list(f"videos/{vid}/r")
    assert not list(prepared.work_dir.iterdir())
    attempts = services.metrics.transcode_attempts
    assert attempts.labels("retry")._value.get() == 1
    assert attempts.labels("failed")._value.get() == 1
    await services.close()


async def test_pool_transcodes_and_stops_gracefully(services: Services, clip4: Path) -> None:
    services.settings.shutdown_grace_s = 120
    pool = WorkerPool(services, concurrency=2)
    await pool.start()
    assert pool.running
    vid = await queue_video(services, clip4)
    await wait_until(services, vid, lambda v, j: j.state == "running")
    await pool.stop()  # waits for the running attempt instead of killing it
    video, job = await load(services, vid)
    assert video.status == "ready" and job.state == "succeeded"
    assert not pool.running


async def test_stop_after_grace_kills_ffmpeg_and_gives_the_job_back(
    services: Services, long_clip: Path
) -> None:
    services.settings.shutdown_grace_s = 0
    pool = WorkerPool(services)
    await pool.start()
    vid = await queue_video(services, long_clip)
    await wait_until(services, vid, lambda v, j: j.state == "running" and j.progress > 0)
    assert ffmpeg_children()
    started = time.monotonic()
    await pool.stop()
    assert time.monotonic() - started < 15
    assert not ffmpeg_children()
    video, job = await load(services, vid)
    assert job.state == "queued" and job.attempts == 1  # handed back for another attempt
    assert job.max_attempts == services.settings.max_attempts + 1  # that one did not count
    assert job.last_error == "the worker shut down during transcoding"
    assert video.status == "queued"
    # nothing is left but the rev it was playable from while processing (viewers may hold
    # it; the next attempt resumes into it)
    stored = {b.key.split("/")[3] for b in await services.store.list(f"videos/{vid}/r")}
    assert stored <= {video.published_rev}
    assert not list(services.settings.work_dir.iterdir())


async def test_a_shutdown_during_the_last_attempt_does_not_fail_the_video(
    services: Services, long_clip: Path
) -> None:
    """A rolling restart must not fail a video whose retries are almost spent."""
    services.settings.shutdown_grace_s = 0
    vid = await queue_video(services, long_clip)
    async with services.db.transaction() as s:  # two attempts already failed
        await s.execute(update(Job).where(Job.video_id == vid).values(attempts=2))
    pool = WorkerPool(services)
    await pool.start()
    await wait_until(services, vid, lambda v, j: j.state == "running" and j.progress > 0)
    await pool.stop()
    video, job = await load(services, vid)
    assert (job.state, job.attempts, job.max_attempts) == ("queued", 3, 4)
    assert video.status == "queued" and video.error is None
    pool = WorkerPool(services)  # the next worker takes it, and it is published
    await pool.start()
    try:
        await wait_until(services, vid, lambda v, j: v.status == "ready", timeout=120)
    finally:
        await pool.stop()
    _, job = await load(services, vid)
    assert (job.state, job.attempts) == ("succeeded", 4)


async def expire(services: Services, job_id: int) -> None:
    async with services.db.transaction() as s:
        past = utcnow() - dt.timedelta(seconds=5)
        await s.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=past))


async def test_reaper_requeues_then_fails_dead_jobs(services: Services, clip4: Path) -> None:
    vid = await queue_video(services, clip4)
    lease = await claim_next(services, "gone:1:0")
    assert lease is not None
    partial = f"{rev_prefix(vid, lease.rev)}/v240/seg_00001.m4s"
    await services.store.put_bytes(partial, b"partial")
    work = services.settings.work_dir / work_dir_name(lease)
    work.mkdir(parents=True)
    assert await reap_once(services) == 0  # the lease is still valid
    await expire(services, lease.job_id)
    assert await reap_once(services) == 1
    video, job = await load(services, vid)
    assert job.state == "queued" and video.status == "queued"
    assert not await services.store.list(f"videos/{vid}/r") and not work.exists()

    second = await claim_next(services, "gone:1:0")
    assert second is not None and second.attempt == 2
    async with services.db.transaction() as s:
        await s.execute(update(Job).where(Job.id == second.job_id).values(max_attempts=2))
    await expire(services, second.job_id)
    assert await reap_once(services) == 1
    video, job = await load(services, vid)
    assert job.state == "failed"
    assert video.status == "failed"
    assert video.error == "processing stopped: the worker died 2 times"


async def test_leftover_work_dirs_are_removed(services: Services, clip4: Path) -> None:
    await queue_video(services, clip4)
    lease = await claim_next(services, "other:1:0")
    assert lease is not None
    root = services.settings.work_dir
    live = root / work_dir_name(lease)
    stale = root / "999-1-abcdef012345"
    unrelated = root / "keep-me"
    for d in (live, stale, unrelated):
        d.mkdir(parents=True)
    assert await remove_stale_work_dirs(services) == 1
    assert live.exists() and unrelated.exists() and not stale.exists()
