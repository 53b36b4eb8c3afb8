"""The upload state machine driven directly (no HTTP): disconnects, locking, the janitor."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select, update

from reelstream.db.models import Job, Upload, Video
from reelstream.ingest.errors import UploadLocked, UploadNotFound
from reelstream.ingest.service import UploadService, build_upload_service, purge_expired
from reelstream.ingest.staging import local as local_mod
from reelstream.ingest.staging.local import LocalStaging, StagingArea
from reelstream.ingest.tus import parse_checksum
from reelstream.services import Services
from tests.ingest.helpers import body, checksum, expire, new_upload, write_holding_lock

DATA = os.urandom(200_000)


def area(svc: UploadService) -> StagingArea:
    """The staging folder of a service on local disk."""
    assert isinstance(svc.staging, LocalStaging)
    return svc.staging.area


async def video_status(services: Services, video_id: str) -> str | None:
    async with services.db.read() as s:
        video = (await s.execute(select(Video).where(Video.id == video_id))).scalar_one_or_none()
    return None if video is None else video.status


async def test_dropped_connection_keeps_the_bytes_that_arrived(services: Services) -> None:
    svc = build_upload_service(services)
    up = await new_upload(svc, len(DATA))
    state = await svc.write(
        up.id,
        offset=0,
        body=body(DATA[:30_000], DATA[30_000:70_000], interrupt=True),
        content_length=len(DATA),
        checksum=None,
    )
    assert state.offset == 70_000
    assert (await svc.status(up.id)).offset == 70_000
    assert area(svc).data_path(up.id).read_bytes() == DATA[:70_000]
    state = await svc.write(
        up.id, offset=70_000, body=body(DATA[70_000:]), content_length=None, checksum=None
    )
    assert state.completed
    assert await video_status(services, up.video_id) == "queued"


async def test_dropped_connection_discards_an_unverifiable_chunk(services: Services) -> None:
    svc = build_upload_service(services)
    up = await new_upload(svc, len(DATA))
    state = await svc.write(
        up.id,
        offset=0,
        body=body(DATA[:50_000], interrupt=True),
        content_length=100_000,
        checksum=parse_checksum(checksum("sha1", DATA[:100_000])),
    )
    assert state.offset == 0
    assert area(svc).data_path(up.id).read_bytes() == b""
    assert not area(svc).chunk_path(up.id).exists()


async def test_long_patch_checkpoints_its_offset(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_mod, "WRITE_BUFFER", 10_000)
    monkeypatch.setattr(local_mod, "CHECKPOINT_BYTES", 50_000)
    svc = build_upload_service(services)
    up = await new_upload(svc, len(DATA))
    seen: list[int] = []

    async def observed() -> AsyncIterator[bytes]:
        for i in range(0, len(DATA), 10_000):
            seen.append((await svc.state(up.id)).offset)
            yield DATA[i : i + 10_000]

    await svc.write(up.id, offset=0, body=observed(), content_length=len(DATA), checksum=None)
    # Durable progress was visible to other requests before this one ended.
    assert 0 < max(seen) < len(DATA)
    assert all(b >= a for a, b in itertools.pairwise(seen))


async def test_two_writers_at_once_do_not_corrupt(services: Services) -> None:
    svc = build_upload_service(services)
    up = await new_upload(svc, len(DATA))

    async def second_writer() -> None:
        with pytest.raises(UploadLocked):
            await svc.write(
                up.id, offset=0, body=body(b"x" * 2000), content_length=2000, checksum=None
            )
        with pytest.raises(UploadLocked):
            await svc.terminate(up.id)

    state = await write_holding_lock(svc, up.id, DATA[:2000], during=second_writer)
    assert state.offset == 2000
    assert area(svc).data_path(up.id).read_bytes() == DATA[:2000]


async def test_purge_expired(services: Services) -> None:
    svc = build_upload_service(services)
    stale = await new_upload(svc, len(DATA))
    await svc.write(stale.id, offset=0, body=body(DATA[:100]), content_length=100, checksum=None)
    fresh = await new_upload(svc, len(DATA))
    done_but_uncommitted = await new_upload(svc, 1000)
    await svc.write(
        done_but_uncommitted.id, offset=0, body=body(DATA[:999]), content_length=999, checksum=None
    )
    # The last byte is on disk and counted, but the process died before the completion.
    with area(svc).data_path(done_but_uncommitted.id).open("ab") as fh:
        fh.write(DATA[999:1000])
    async with services.db.transaction() as s:
        await s.execute(
            update(Upload).where(Upload.id == done_but_uncommitted.id).values(offset=1000)
        )
    for up in (stale, done_but_uncommitted):
        await expire(services, up.id)
    orphan = services.settings.resolved_upload_dir / "OrphanOrphan0001"
    orphan.write_bytes(b"left behind by a crash")
    old = dt.datetime.now(dt.UTC).timestamp() - services.settings.upload_expiry_s - 10
    os.utime(orphan, (old, old))

    assert await purge_expired(services) == 1

    assert not area(svc).data_path(stale.id).exists()
    assert await video_status(services, stale.video_id) is None
    async with services.db.read() as s:
        ids = set((await s.execute(select(Upload.id))).scalars())
        jobs = list((await s.execute(select(Job.video_id))).scalars())
    assert ids == {fresh.id, done_but_uncommitted.id}
    assert area(svc).data_path(fresh.id).exists()
    assert await video_status(services, fresh.video_id) == "uploading"
    assert await video_status(services, done_but_uncommitted.video_id) == "queued"
    assert jobs == [done_but_uncommitted.video_id]
    assert not orphan.exists()
    assert await purge_expired(services) == 0


async def test_purge_skips_an_upload_being_written(services: Services) -> None:
    svc = build_upload_service(services)
    up = await new_upload(svc, len(DATA))
    await expire(services, up.id)
    handle = area(svc).open_locked(up.id)
    assert handle is not None
    try:
        assert await purge_expired(services) == 0
    finally:
        handle.close()
    assert await purge_expired(services) == 1
    assert await video_status(services, up.video_id) is None


@pytest.mark.parametrize("video_row", ["present", "deleted first"])
async def test_discard_for_video_removes_what_is_staged(services: Services, video_row: str) -> None:
    svc = build_upload_service(services)
    gone = await new_upload(svc, len(DATA))
    await svc.write(gone.id, offset=0, body=body(DATA[:1000]), content_length=1000, checksum=None)
    area(svc).chunk_path(gone.id).write_bytes(b"a checksummed chunk in flight")
    kept = await new_upload(svc, len(DATA))
    await svc.write(kept.id, offset=0, body=body(DATA[:500]), content_length=500, checksum=None)
    if video_row == "deleted first":  # as deleting the video does: its upload rows go with it
        async with services.db.transaction() as s:
            await s.execute(delete(Video).where(Video.id == gone.video_id))

    await svc.discard_for_video(gone.video_id)

    assert not area(svc).data_path(gone.id).exists()
    assert not area(svc).chunk_path(gone.id).exists()
    with pytest.raises(UploadNotFound):
        await svc.status(gone.id)
    # another video's upload is untouched
    assert area(svc).data_path(kept.id).read_bytes() == DATA[:500]
    assert (await svc.status(kept.id)).offset == 500
    await svc.discard_for_video(gone.video_id)  # idempotent
