"""No rev folder outlives the job that made it, whatever step a worker dies after.

A worker "dies" here by raising ``Killed`` (a ``BaseException``: nothing in reelstream catches
it, as nothing survives a SIGKILL) at its first storage deletion after a commit; the test then
"restarts" a worker with a sound store and lets it run every due job. The revs left must be the
published rev only (and retired revs while their grace period lasts), never a running
attempt's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from reelstream.db.base import utcnow
from reelstream.db.models import Job
from reelstream.ids import new_rev
from reelstream.processing.cleanup import schedule_cleanup, sweep_revs
from reelstream.processing.jobs import claim_next, run_job
from reelstream.queue.kinds import CLEANUP, TRANSCODE
from reelstream.services import Services
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos
from reelstream.worker import reap_once
from tests.processing.conftest import queue_video, transcode_next


class Killed(BaseException):
    """The worker process died here."""


async def revs(services: Services, vid: str) -> set[str]:
    return {b.key.split("/")[3] for b in await services.store.list(f"videos/{vid}/r")}


async def run_due_jobs(services: Services) -> list[str]:
    """A restarted worker: run every due job (bounded), return their kinds."""
    kinds: list[str] = []
    for _ in range(20):
        lease = await claim_next(services, "restarted:1:0")
        if lease is None:
            return kinds
        kinds.append(lease.kind)
        await run_job(services, lease)
    raise AssertionError(f"jobs kept coming: {kinds}")


async def leave_orphan(services: Services, vid: str) -> str:
    """What an earlier attempt SIGKILLed mid-upload leaves when its clean-up is lost too."""
    rev = new_rev()
    await services.store.put_bytes(f"{rev_prefix(vid, rev)}/v240/seg_00001.m4s", b"partial")
    return rev


async def test_a_worker_killed_right_after_publishing_leaves_no_orphan_rev(
    services: Services, clip4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = await queue_video(services, clip4)
    orphan = await leave_orphan(services, vid)

    async def killed(*args: object, **kwargs: object) -> int:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(services.store, "delete_prefix", killed)
        m.setattr(services.store, "delete", killed)
        # dies at its first deletion after the publish committed (if it makes any)
        with contextlib.suppress(Killed):
            await transcode_next(services)
    async with services.db.read() as s:
        video = await videos.get_video(s, vid)
    assert video.status == "ready" and video.published_rev is not None
    assert orphan in await revs(services, vid)  # the worker died before removing it

    await run_due_jobs(services)
    assert await revs(services, vid) == {video.published_rev}


async def test_a_video_failing_for_good_leaves_no_partial_rev(
    services: Services, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video at all" * 100)
    vid = await queue_video(services, bogus)
    await leave_orphan(services, vid)  # an earlier attempt of the job was killed
    assert await transcode_next(services) == "failed"
    async with services.db.read() as s:
        assert (await videos.get_video(s, vid)).status == "failed"
    assert await run_due_jobs(services) == [CLEANUP]
    assert await revs(services, vid) == set()


async def test_a_dead_job_failed_by_a_reaper_that_then_dies_leaves_no_rev(
    services: Services, clip4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = await queue_video(services, clip4)
    lease = await claim_next(services, "gone:1:0")
    assert lease is not None
    await services.store.put_bytes(f"{rev_prefix(vid, lease.rev)}/v240/seg_00001.m4s", b"x")
    past = utcnow() - dt.timedelta(seconds=5)
    async with services.db.transaction() as s:
        await s.execute(
            update(Job).where(Job.id == lease.job_id).values(lease_expires_at=past, max_attempts=1)
        )

    async def killed(*args: object, **kwargs: object) -> int:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(services.store, "delete_prefix", killed)
        with pytest.raises(Killed):
            await reap_once(services)  # the job failed for good, then the reaper died
    async with services.db.read() as s:
        assert (await videos.get_video(s, vid)).status == "failed"
    assert await revs(services, vid) == {lease.rev}

    assert await run_due_jobs(services) == [CLEANUP]
    assert await revs(services, vid) == set()


async def test_the_sweep_removes_only_orphans(db_services: Services) -> None:
    """Kept: the published rev, a retired rev in its grace period, a running attempt's rev
    (even one whose lease has run out: the reaper has not taken it back yet)."""
    services = db_services
    async with services.db.transaction() as s:
        video = await videos.create_video(s, title="t", filename="t.mp4", owner_id=None)
        await services.queue.enqueue(s, video.id, TRANSCODE)
    vid = video.id
    lease = await claim_next(services, "busy:1:0")
    assert lease is not None
    published, retired, orphan = new_rev(), new_rev(), new_rev()
    async with services.db.transaction() as s:
        row = await videos.get_video(s, vid)
        row.published_rev = published
        await schedule_cleanup(s, services.queue, services.settings, vid, retired)
    for rev in (published, retired, orphan, lease.rev):
        await services.store.put_bytes(f"{rev_prefix(vid, rev)}/v240/init.mp4", b"x")

    assert await sweep_revs(services, vid) == 1
    assert await revs(services, vid) == {published, retired, lease.rev}
    async with services.db.read() as s:
        pending = (
            await s.execute(select(Job).where(Job.video_id == vid, Job.kind == CLEANUP))
        ).scalar_one()
    assert pending.state == "queued" and pending.run_at > utcnow()  # still in its grace

    async with services.db.transaction() as s:  # the grace is over, the attempt failed
        await s.execute(update(Job).where(Job.id == pending.id).values(state="succeeded"))
        await s.execute(update(Job).where(Job.id == lease.job_id).values(state="failed"))
    assert await sweep_revs(services, vid) == 2
    assert await revs(services, vid) == {published}


async def test_a_deleted_video_is_not_swept(db_services: Services) -> None:
    services = db_services
    async with services.db.transaction() as s:
        video = await videos.create_video(s, title="t", filename="t.mp4", owner_id=None)
    rev = new_rev()
    await services.store.put_bytes(f"{rev_prefix(video.id, rev)}/v240/init.mp4", b"x")
    async with services.db.transaction() as s:
        await videos.delete_video(s, video.id)
    assert await sweep_revs(services, video.id) == 0
