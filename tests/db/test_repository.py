"""The video repository and the migrations, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from reelstream.db import videos as repo
from reelstream.db.errors import InvalidCursor, VideoNotFound
from reelstream.db.migrate import alembic_config
from reelstream.db.models import Job, Rendition, Upload, Video
from reelstream.services import Services
from tests.api.factories import create_video, publish_fake, queue_video


async def test_migrations_create_the_schema_with_native_types(services: Services) -> None:
    async with services.db.read() as s:
        conn = await s.connection()
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        columns = await conn.run_sync(
            lambda c: {col["name"]: col["type"] for col in inspect(c).get_columns("videos")}
        )
        version = (await s.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert {"videos", "renditions", "uploads", "jobs", "alembic_version"} <= tables
    head = ScriptDirectory.from_config(alembic_config(services.db.url)).get_current_head()
    assert version == head
    if not services.db.is_sqlite:
        # Real PostgreSQL types: timestamptz, json, boolean.
        assert getattr(columns["created_at"], "timezone", None) is True
        assert type(columns["probe"]).__name__ == "JSON"
        assert type(columns["has_audio"]).__name__ == "BOOLEAN"


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
            page, cursor = await repo.list_videos(s, limit=3, cursor=cursor, visibility="public")
        seen += [v.id for v in page]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first, each exactly once
    async with services.db.read() as s:
        with pytest.raises(InvalidCursor):
            await repo.list_videos(s, cursor="bm90LWEtY3Vyc29y")


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
            page, cursor = await repo.list_videos(s, limit=2, cursor=cursor)
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
