"""tus uploads staged in the object store (real Swift s3api): parts, tails, checksums, the
cross-instance lock, completion, termination and the janitor. Two ``Services`` on one
database and one bucket stand for two stateless api instances."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from sqlalchemy import delete, select, update

from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.db.models import Job, Upload, Video
from reelstream.ingest.errors import (
    ChecksumMismatch,
    OffsetMismatch,
    UploadFinished,
    UploadLocked,
    UploadNotFound,
)
from reelstream.ingest.service import (
    UploadService,
    UploadState,
    build_upload_service,
    purge_expired,
)
from reelstream.ingest.staging.object import ObjectBytes, ObjectStaging, staging_prefix
from reelstream.ingest.tus import VideoMetadata, parse_checksum
from reelstream.services import Services, build_services
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import source_key
from reelstream.storage.s3 import S3BlobStore
from tests.ingest.helpers import (
    META,
    b64,
    body,
    checksum,
    expire,
    new_upload,
    write_holding_lock,
)

PART = 5 * 1024 * 1024
DATA = os.urandom(2 * PART + 1_234_567)

Instance = Callable[[], Awaitable[Services]]


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The shared database: SQLite, or (parametrised indirectly) a fresh PostgreSQL one."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"


BOTH_DATABASES = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
async def instances(
    tmp_path: Path, s3_settings: dict[str, str], db_url: str
) -> AsyncIterator[Instance]:
    """Start api "instances": separate Services on one database and one bucket."""
    started: list[Services] = []

    async def start() -> Services:
        settings = Settings(
            env="development",
            data_dir=tmp_path / f"instance{len(started)}",
            database_url=db_url,
            s3_part_size=PART,
            _env_file=None,
            **s3_settings,  # type: ignore[arg-type]
        )
        settings.prepare()
        if not started:
            await anyio.to_thread.run_sync(upgrade, db_url)
        svc = build_services(settings)
        await svc.start()
        started.append(svc)
        return svc

    yield start
    for svc in started:
        await svc.close()


def pieces(data: bytes, size: int = 256 * 1024) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def write(
    svc: UploadService, up: UploadState, start: int, end: int, **kw: Any
) -> UploadState:
    return await svc.write(
        up.id,
        offset=start,
        body=body(*pieces(DATA[start:end]), interrupt=kw.pop("interrupt", False)),
        content_length=kw.pop("content_length", end - start),
        checksum=kw.pop("checksum", None),
    )


async def row(svc: Services, upload_id: str) -> Upload | None:
    async with svc.db.read() as s:
        return (await s.execute(select(Upload).where(Upload.id == upload_id))).scalar_one_or_none()


def s3(svc: Services) -> S3BlobStore:
    assert isinstance(svc.store, S3BlobStore)
    return svc.store


@BOTH_DATABASES
async def test_upload_continues_on_another_instance(instances: Instance) -> None:
    a, b = await instances(), await instances()
    ua, ub = build_upload_service(a), build_upload_service(b)
    assert isinstance(ua.staging, ObjectStaging)
    up = await ua.create(length=len(DATA), metadata={"filename": "clip.mp4"}, video=META)

    # A: less than a part -> everything in the tail object, acknowledged
    st = await write(ua, up, 0, 3_000_000)
    assert st.offset == 3_000_000
    r = await row(a, up.id)
    assert r is not None and r.parts == [] and r.multipart_id
    tails = await s3(a).list(staging_prefix(up.id))
    assert [(t.key, t.size) for t in tails] == [(f"uploads/{up.id}/tail-3000000", 3_000_000)]

    # B reads the tail back, crosses a part boundary, leaves a new tail
    assert (await ub.status(up.id)).offset == 3_000_000
    st = await write(
        ub,
        up,
        3_000_000,
        PART + 777,
        checksum=parse_checksum(checksum("sha256", DATA[3_000_000 : PART + 777])),
    )
    assert st.offset == PART + 777
    r = await row(b, up.id)
    assert r is not None and [p[0] for p in r.parts or []] == [1]
    assert [t.key for t in await s3(b).list(staging_prefix(up.id))] == [
        f"uploads/{up.id}/tail-{PART + 777}"
    ]

    # A finishes: one more full part and a short last part, then completion
    st = await write(ua, up, PART + 777, len(DATA))
    assert st.completed and st.offset == len(DATA)
    stored = await s3(a).get_bytes(source_key(up.video_id))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(DATA).digest()
    assert await s3(a).list(staging_prefix(up.id)) == []
    assert await s3(a).list_multipart("videos") == []
    async with b.db.read() as s:
        video = (await s.execute(select(Video).where(Video.id == up.video_id))).scalar_one()
        jobs = list((await s.execute(select(Job.video_id))).scalars())
    assert video.status == "queued" and video.source_bytes == len(DATA)
    assert jobs == [up.video_id]


async def test_checksum_mismatch_acknowledges_nothing(instances: Instance) -> None:
    a = await instances()
    svc = build_upload_service(a)
    up = await new_upload(svc, len(DATA))
    await write(svc, up, 0, 1000)
    end = PART + 5000  # spans a part boundary: a part is uploaded, then the checksum fails
    with pytest.raises(ChecksumMismatch):
        await write(svc, up, 1000, end, checksum=parse_checksum(checksum("sha1", b"other")))
    r = await row(a, up.id)
    assert r is not None and r.offset == 1000 and r.parts == []
    # a dropped connection in a checksummed PATCH keeps nothing either
    st = await write(
        svc,
        up,
        1000,
        end,
        interrupt=True,
        checksum=parse_checksum(checksum("sha1", DATA[1000 : end + 1])),
    )
    assert st.offset == 1000
    st = await write(
        svc, up, 1000, len(DATA), checksum=parse_checksum(checksum("md5", DATA[1000:]))
    )
    assert st.completed
    assert await s3(a).get_bytes(source_key(up.video_id)) == DATA


async def test_dropped_connection_keeps_what_arrived(instances: Instance) -> None:
    a, b = await instances(), await instances()
    up = await new_upload(build_upload_service(a), len(DATA))
    st = await write(build_upload_service(a), up, 0, PART + 100, interrupt=True)
    assert st.offset == PART + 100
    assert (await build_upload_service(b).status(up.id)).offset == PART + 100
    with pytest.raises(OffsetMismatch):
        await write(build_upload_service(b), up, 0, 10)
    st = await write(build_upload_service(b), up, PART + 100, len(DATA))
    assert st.completed
    assert await s3(b).get_bytes(source_key(up.video_id)) == DATA


@BOTH_DATABASES
async def test_a_second_writer_on_another_instance_gets_423(instances: Instance) -> None:
    a, b = await instances(), await instances()
    ua, ub = build_upload_service(a), build_upload_service(b)
    up = await new_upload(ua, len(DATA))

    async def second_writer() -> None:
        with pytest.raises(UploadLocked):
            await ub.write(up.id, offset=0, body=body(b"x" * 10), content_length=10, checksum=None)
        with pytest.raises(UploadLocked):
            await ub.terminate(up.id)

    state = await write_holding_lock(ua, up.id, DATA[:2000], during=second_writer)
    assert state.offset == 2000
    r = await row(a, up.id)
    assert r is not None and r.lock_token is None and r.locked_until is None

    # a lease left by a crashed instance runs out, then anyone may write
    async with a.db.transaction() as s:
        await s.execute(
            update(Upload)
            .where(Upload.id == up.id)
            .values(
                lock_token="dead", locked_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
            )
        )
    with pytest.raises(UploadLocked):
        await write(ub, up, 2000, 3000)
    async with a.db.transaction() as s:
        await s.execute(
            update(Upload)
            .where(Upload.id == up.id)
            .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert (await write(ub, up, 2000, 3000)).offset == 3000


async def test_interrupted_completion_is_finished_by_head(
    instances: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await instances(), await instances()
    up = await new_upload(build_upload_service(a), PART + 10)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise StorageError("the object store went away")

    monkeypatch.setattr(s3(a), "complete_multipart", broken)
    with pytest.raises(StorageError):
        await write(build_upload_service(a), up, 0, PART + 10)
    r = await row(a, up.id)
    assert r is not None and r.offset == PART + 10 and r.completed_at is None
    st = await build_upload_service(b).status(up.id)  # any instance finishes it
    assert st.completed
    assert await s3(b).get_bytes(source_key(up.video_id)) == DATA[: PART + 10]
    # a PATCH repeating the last, already acknowledged, offset is answered without writing
    with pytest.raises(UploadFinished):
        await write(build_upload_service(b), up, PART + 10, PART + 20)


async def test_empty_upload_completes(instances: Instance) -> None:
    a = await instances()
    svc = build_upload_service(a)
    up = await new_upload(svc, 0)
    st = await svc.write(up.id, offset=0, body=body(), content_length=0, checksum=None)
    assert st.completed
    assert (await s3(a).stat(source_key(up.video_id))).size == 0
    assert await s3(a).list_multipart("videos") == []


@BOTH_DATABASES
async def test_termination_and_expiry_abort_the_multipart_upload(instances: Instance) -> None:
    a = await instances()
    svc = build_upload_service(a)
    killed = await new_upload(svc, len(DATA))
    await write(svc, killed, 0, PART + 10)
    stale = await new_upload(svc, len(DATA))
    await write(svc, stale, 0, 100)
    fresh = await new_upload(svc, len(DATA))
    assert len(await s3(a).list_multipart("videos")) == 3

    await svc.terminate(killed.id)
    with pytest.raises(UploadNotFound):
        await svc.state(killed.id)
    assert await s3(a).list(staging_prefix(killed.id)) == []

    await expire(a, stale.id)
    assert await purge_expired(a) == 1
    assert await s3(a).list(staging_prefix(stale.id)) == []
    remaining = await s3(a).list_multipart("videos")
    assert [m.key for m in remaining] == [source_key(fresh.video_id)]
    assert (await svc.state(fresh.id)).offset == 0


async def test_orphans_of_a_deleted_video_are_swept(instances: Instance) -> None:
    a = await instances()
    a.settings.upload_expiry_s = 1
    svc = build_upload_service(a)
    up = await new_upload(svc, len(DATA))
    await write(svc, up, 0, 100)
    async with a.db.transaction() as s:  # the video was deleted while uploading
        await s.execute(delete(Video).where(Video.id == up.video_id))
    await anyio.sleep(2.1)
    assert await purge_expired(a) == 0
    assert await s3(a).list("uploads") == []
    assert await s3(a).list_multipart("videos") == []


@pytest.mark.parametrize("video_row", ["present", "deleted first"])
async def test_discard_for_video_aborts_the_multipart_upload_and_removes_tails(
    instances: Instance, video_row: str
) -> None:
    a = await instances()
    svc = build_upload_service(a)
    gone = await new_upload(svc, len(DATA))
    await write(svc, gone, 0, PART + 10)  # a committed part and a tail
    kept = await new_upload(svc, len(DATA))
    await write(svc, kept, 0, 100)
    assert len(await s3(a).list_multipart("videos")) == 2
    assert await s3(a).list(staging_prefix(gone.id)) != []
    if video_row == "deleted first":  # as deleting the video does: its upload rows go with it
        async with a.db.transaction() as s:
            await s.execute(delete(Video).where(Video.id == gone.video_id))

    await svc.discard_for_video(gone.video_id)

    with pytest.raises(UploadNotFound):
        await svc.status(gone.id)
    assert await s3(a).list(staging_prefix(gone.id)) == []
    remaining = await s3(a).list_multipart("videos")
    assert [m.key for m in remaining] == [source_key(kept.video_id)]
    # another video's upload is untouched and continues
    assert [t.key for t in await s3(a).list(staging_prefix(kept.id))] == [
        f"uploads/{kept.id}/tail-100"
    ]
    st = await write(svc, kept, 100, len(DATA))
    assert st.completed
    assert await s3(a).get_bytes(source_key(kept.video_id)) == DATA


class Killed(BaseException):
    """The api process died here (nothing catches it, as nothing survives a SIGKILL)."""


@BOTH_DATABASES
async def test_tails_left_by_a_crash_after_completion_are_swept(
    instances: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The object store refuses deletes during the final PATCH and the instance dies after
    the completion committed: the janitor's next sweep removes the complete upload's tails
    (long before they expire), and nothing an unfinished upload needs, nor the source."""
    a = await instances()
    svc = build_upload_service(a)
    done = await new_upload(svc, len(DATA))
    await write(svc, done, 0, 100)  # a tail
    kept = await new_upload(svc, len(DATA))
    await write(svc, kept, 0, 100)  # a tail the next PATCH reads back

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise StorageError("the object store answers errors")

    async def died(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(s3(a), "delete", refused)
        m.setattr(ObjectBytes, "stored", died)
        with pytest.raises(Killed):
            await write(svc, done, 100, len(DATA))
    r = await row(a, done.id)
    assert r is not None and r.completed_at is not None
    assert await s3(a).list(staging_prefix(done.id)) != []  # left behind

    assert await purge_expired(a) == 0
    assert await s3(a).list(staging_prefix(done.id)) == []
    assert await s3(a).get_bytes(source_key(done.video_id)) == DATA
    assert [t.key for t in await s3(a).list(staging_prefix(kept.id))] == [
        f"uploads/{kept.id}/tail-100"
    ]
    assert (await write(svc, kept, 100, len(DATA))).completed
    assert await s3(a).get_bytes(source_key(kept.video_id)) == DATA


async def test_a_replacing_source_is_staged_beside_the_published_one(instances: Instance) -> None:
    """A replacement (metadata ``video_id``) goes to its own key; terminating one aborts only
    its own multipart upload and keeps the video and its source; completing one queues the
    transcode of the new source while the video stays as it is."""
    a = await instances()
    svc = build_upload_service(a)
    first = await new_upload(svc, 1000)
    await svc.write(first.id, offset=0, body=body(DATA[:1000]), content_length=1000, checksum=None)
    vid = first.video_id
    async with a.db.transaction() as s:  # as if published
        await s.execute(
            update(Video).where(Video.id == vid).values(status="ready", published_rev="r1")
        )
        await s.execute(update(Job).where(Job.video_id == vid).values(state="succeeded"))
    meta = {"filename": b64("new.mp4"), "video_id": b64(vid)}
    replacing = VideoMetadata(filename="new.mp4", title="", visibility="", replaces=vid)

    dropped = await svc.create(length=len(DATA), metadata=meta, video=replacing)
    assert dropped.video_id == vid
    await write(svc, dropped, 0, PART + 10)
    assert [m.key for m in await s3(a).list_multipart("videos")] == [source_key(vid, dropped.id)]
    await svc.terminate(dropped.id)
    assert await s3(a).list_multipart("videos") == []
    assert await s3(a).get_bytes(source_key(vid)) == DATA[:1000]

    up = await svc.create(length=len(DATA), metadata=meta, video=replacing)
    st = await write(svc, up, 0, len(DATA))
    assert st.completed
    new = await s3(a).get_bytes(source_key(vid, up.id))
    assert hashlib.sha256(new).digest() == hashlib.sha256(DATA).digest()
    assert await s3(a).get_bytes(source_key(vid)) == DATA[:1000]
    async with a.db.read() as s:
        video = (await s.execute(select(Video).where(Video.id == vid))).scalar_one()
        queued = (
            await s.execute(select(Job).where(Job.video_id == vid, Job.state == "queued"))
        ).scalar_one()
    assert (video.status, video.source_key) == ("ready", source_key(vid))
    assert queued.payload == {"source": source_key(vid, up.id), "source_bytes": len(DATA)}
