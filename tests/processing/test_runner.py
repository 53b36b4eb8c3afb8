"""The leased-attempt runner, seen through the smallest kind (``cleanup``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from reelstream.db.models import Job
from reelstream.processing.jobs import claim_next, run_job
from reelstream.queue.kinds import CLEANUP
from reelstream.services import Services
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos


async def _queue_cleanup(services: Services, rev: str) -> tuple[str, int]:
    async with services.db.transaction() as s:
        video = await videos.create_video(s, title="t", filename="t.mp4", owner_id=None)
        job = await services.queue.enqueue(s, video.id, CLEANUP, payload={"rev": rev})
        return video.id, job.id


async def test_cleanup_removes_a_retired_rev(services: Services) -> None:
    vid, job_id = await _queue_cleanup(services, "0123456789ab")
    await services.store.put_bytes(f"{rev_prefix(vid, '0123456789ab')}/v240/seg.m4s", b"x")
    lease = await claim_next(services, "test:1:0")
    assert lease is not None and lease.kind == CLEANUP
    assert await run_job(services, lease) == "removed"
    assert await services.store.list(rev_prefix(vid, "0123456789ab")) == []
    async with services.db.read() as s:
        assert (await s.get(Job, job_id)).state == "succeeded"  # type: ignore[union-attr]


async def test_a_storage_error_fails_the_attempt_to_be_retried(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, job_id = await _queue_cleanup(services, "0123456789ab")

    async def broken(prefix: str) -> int:
        raise StorageError("the bucket is away")

    monkeypatch.setattr(services.store, "delete_prefix", broken)
    lease = await claim_next(services, "test:1:0")
    assert lease is not None
    assert await run_job(services, lease) == "retry"
    async with services.db.read() as s:
        job = (await s.execute(select(Job).where(Job.id == job_id))).scalar_one()
    assert job.state == "queued"
    # users read a plain sentence; the backend's own message (keys, folders) is logged only
    assert job.last_error == "storage error: the video's files could not be read or stored"
