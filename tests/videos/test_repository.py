"""The video repository, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from reelstream.db.models import Job, Rendition, Upload, Video
from reelstream.http.pagination import InvalidCursor
from reelstream.services import Services
from reelstream.videos import repository as repo
from reelstream.videos.errors import VideoNotFound
from tests.videos.factories import create_video, publish_fake, queue_video


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services


async def test_create_and_read_back_with_aware_datetimes_json_and_booleans(
    services: Services,
) -> None:
    async with services.db.transaction() as s:
        video = await repo.create_video(s, title="Café ☕", filename="c.mp4", visibility="unlisted")
        vid = video.id
        await repo.record_probe(
            s,
            vid,
            duration_s=6.02,
            width=640,
            height=360,
            has_audio=False,
            probe={"format": "mp4", "streams": [{"codec": "h264"}], "nested": {"ok": True}},
        )
    async with services.db.read() as s:
        got = await repo.get_video(s, vid)
    assert got.title == "Café ☕"
    assert got.visibility == "unlisted"
    assert got.status == "uploading"
    assert got.has_audio is False
    assert got.probe == {"format": "mp4", "streams": [{"codec": "h264"}], "nested": {"ok": True}}
    assert got.created_at.tzinfo is not None
    assert got.created_at.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - got.created_at).total_seconds()) < 60


async def test_list_walks_every_page_newest_first_without_gaps(services: Services) -> None:
    ids = [await create_video(services, f"v{n}") for n in range(7)]
    await create_video(services, "hidden", visibility="private")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        async with services.db.read() as s:
            page, cursor = await repo.list_videos(
                s, cursors=services.cursors, limit=3, cursor=cursor, visibility="public"
            )
        seen += [v.id for v in page]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first, each exactly once
    async with services.db.read() as s:
        with pytest.raises(InvalidCursor):
            await repo.list_videos(s, cursors=services.cursors, cursor="bm90LWEtY3Vyc29y")


async def test_list_cursor_breaks_ties_on_equal_timestamps(services: Services) -> None:
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    async with services.db.transaction() as s:
        for n in range(5):
            video = await repo.create_video(s, title=f"t{n}", filename="t.mp4")
            video.created_at = when
    seen: list[str] = []
    cursor = None
    while True:
        async with services.db.read() as s:
            page, cursor = await repo.list_videos(
                s, cursors=services.cursors, limit=2, cursor=cursor
            )
        seen += [v.id for v in page]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)


async def test_publish_replaces_renditions_and_reports_the_previous_rev(
    services: Services,
) -> None:
    vid = await create_video(services)
    await queue_video(services, vid)
    first = await publish_fake(services, vid)
    second = await publish_fake(services, vid)
    async with services.db.read() as s:
        video = await repo.get_video(s, vid)
        renditions = (await s.execute(select(func.count()).select_from(Rendition))).scalar()
    assert video.status == "ready"
    assert video.published_rev == second != first
    assert video.ready_at is not None and video.ready_at.tzinfo is not None
    assert [r.name for r in video.renditions] == ["v360"]
    assert video.renditions[0].ready is True
    assert renditions == 1  # the first rev's renditions were replaced, not added to


async def test_delete_cascades_to_renditions_jobs_and_uploads(services: Services) -> None:
    vid = await create_video(services)
    other = await create_video(services, "other")
    await queue_video(services, vid)
    await queue_video(services, other)
    await publish_fake(services, vid)
    async with services.db.transaction() as s:
        s.add(
            Upload(
                id="U" * 16,
                video_id=vid,
                length=10,
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            )
        )
    async with services.db.transaction() as s:
        await repo.delete_video(s, vid)
    async with services.db.read() as s:
        with pytest.raises(VideoNotFound):
            await repo.get_video(s, vid)
        for model in (Rendition, Job, Upload):
            count = select(func.count()).select_from(model).where(model.video_id == vid)
            left = (await s.execute(count)).scalar()
            assert left == 0, model.__name__
        # The other video and its job are untouched.
        assert (await repo.get_video(s, other)).id == other
        assert (await s.execute(select(func.count()).select_from(Job))).scalar() == 1
        assert (await s.execute(select(func.count()).select_from(Video))).scalar() == 1
