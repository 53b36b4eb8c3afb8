"""Cache-aside of video metadata and its invalidation on write, on every cache backend.

The writes go through the real repository and a real (SQLite) database; the invalidation
comes from the session events installed by ``build_services``, not from the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio.to_thread
import pytest

from reelstream.cache import Cache
from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.services import Services, build_services
from reelstream.videos import repository as repo
from reelstream.videos.cache import TOMBSTONE, VideoView, video_key
from tests.cache.helpers import make_ready
from tests.videos.factories import create_video, publish_fake, queue_video

SETTLE_S = 0.2


@pytest.fixture
async def services(settings: Settings, cache: Cache) -> AsyncIterator[Services]:
    settings.prepare()
    await anyio.to_thread.run_sync(upgrade, settings.resolved_database_url)
    svc = build_services(settings)
    svc.cache = svc.video_cache.cache = cache  # the invalidation hook holds this VideoCache
    svc.video_cache.settle_s = SETTLE_S
    yield svc
    await svc.close()


async def from_db(services: Services, video_id: str) -> VideoView:
    async with services.db.read() as s:
        video = await repo.get_video(s, video_id)
        job = await services.queue.active_job(s, video.id)
        return VideoView.from_row(video, job)


async def load(services: Services, video_id: str) -> VideoView:
    return await services.video_cache.load(video_id, lambda: from_db(services, video_id))


async def ready_video(services: Services, title: str = "clip") -> str:
    """A published video, cached, with the tombstone of its publication expired."""
    vid = await make_ready(services, title)
    await asyncio.sleep(SETTLE_S + 0.1)
    view = await load(services, vid)
    assert view.status == "ready" and view.is_final
    assert await services.video_cache.get(vid) == view, "a ready video should now be cached"
    return vid


async def test_only_final_videos_are_cached(services: Services) -> None:
    vid = await create_video(services)
    assert (await load(services, vid)).status == "uploading"
    await asyncio.sleep(SETTLE_S + 0.1)
    assert (await load(services, vid)).status == "uploading"
    assert await services.cache.get(video_key(vid)) is None

    await queue_video(services, vid)
    await publish_fake(services, vid)  # ready, but its job is still "queued": not final yet
    await asyncio.sleep(SETTLE_S + 0.1)
    view = await load(services, vid)
    assert view.status == "ready" and not view.is_final
    assert await services.cache.get(video_key(vid)) is None

    await ready_video(services)


async def test_a_cached_view_is_the_database_view(services: Services) -> None:
    vid = await ready_video(services)
    cached = await services.video_cache.get(vid)
    assert cached is not None
    assert cached == await from_db(services, vid)
    assert cached.playable and cached.renditions[0].height == 360


async def _retitle(services: Services, vid: str) -> None:
    async with services.db.transaction() as s:
        (await repo.get_video(s, vid)).title = "renamed"


async def _republish(services: Services, vid: str) -> None:
    await publish_fake(services, vid)


async def _fail(services: Services, vid: str) -> None:
    async with services.db.transaction() as s:
        await repo.mark_failed(s, vid, "broken")


async def _requeue(services: Services, vid: str) -> None:
    async with services.db.transaction() as s:
        await services.queue.enqueue(s, vid)


async def _delete(services: Services, vid: str) -> None:
    async with services.db.transaction() as s:
        await repo.delete_video(s, vid)


@pytest.mark.parametrize("write", [_retitle, _republish, _fail, _requeue, _delete])
async def test_every_committed_write_invalidates_at_once(services: Services, write: object) -> None:
    vid = await ready_video(services)
    assert callable(write)
    await write(services, vid)
    # Invalidated when the transaction returned: no waiting, no call-site code.
    assert await services.cache.get(video_key(vid)) == TOMBSTONE
    assert await services.video_cache.get(vid) is None


async def test_a_rolled_back_write_does_not_invalidate(services: Services) -> None:
    vid = await ready_video(services)
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as s:
            (await repo.get_video(s, vid)).title = "never"
            await s.flush()
            raise RuntimeError("abort")
    cached = await services.video_cache.get(vid)
    assert cached is not None and cached.title == "clip"


async def test_a_fill_racing_a_write_cannot_store_the_old_row(services: Services) -> None:
    vid = await ready_video(services)
    await services.cache.delete(video_key(vid))  # expired, say

    stale = await from_db(services, vid)  # a reader reads the row ...
    await _retitle(services, vid)  # ... a writer commits and invalidates ...
    assert await services.video_cache.fill(stale) is False  # ... the reader's fill is refused
    assert await services.video_cache.get(vid) is None
    assert (await load(services, vid)).title == "renamed"  # and readers see the write

    await asyncio.sleep(SETTLE_S + 0.1)  # once settled, fills resume with the new row
    services.video_cache.local.clear()  # (the local tier holds it meanwhile: go to the shared one)
    assert (await load(services, vid)).title == "renamed"
    cached = await services.video_cache.get(vid)
    assert cached is not None and cached.title == "renamed"


async def test_unreadable_entries_are_dropped_as_misses(services: Services) -> None:
    vid = await ready_video(services)
    await services.cache.set(video_key(vid), b"{not json", 30)
    assert await services.video_cache.get(vid) is None
    assert await services.cache.get(video_key(vid)) is None
    good = await from_db(services, vid)
    other_format = good.model_copy(update={"format": 0}).model_dump_json().encode()
    await services.cache.set(video_key(vid), other_format, 30)
    assert await services.video_cache.get(vid) is None


async def test_ids_that_cannot_exist_never_reach_the_cache(services: Services) -> None:
    await services.cache.set(video_key("../etc"), b"x", 30)
    assert await services.video_cache.get("../etc") is None


async def test_a_write_in_one_process_invalidates_the_cache_for_all(
    settings: Settings, redis_url: str
) -> None:
    """Two processes (say, an api and a worker) share the database and Redis."""
    settings.redis_url = redis_url
    settings.prepare()
    await anyio.to_thread.run_sync(upgrade, settings.resolved_database_url)
    reader, writer = build_services(settings), build_services(settings)
    try:
        for svc in (reader, writer):
            svc.video_cache.settle_s = SETTLE_S
        vid = await make_ready(writer)
        await asyncio.sleep(SETTLE_S + 0.1)
        assert (await load(reader, vid)).title == "clip"
        assert await reader.video_cache.get(vid) is not None  # cached in the shared Redis

        async with writer.db.transaction() as s:
            (await repo.get_video(s, vid)).title = "renamed elsewhere"
        assert await reader.video_cache.get(vid) is None
        assert (await load(reader, vid)).title == "renamed elsewhere"
    finally:
        await reader.close()
        await writer.close()
