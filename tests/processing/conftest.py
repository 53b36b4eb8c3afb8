"""Fixtures for the processing tests: migrated services on a temp data dir, queueing a video,
running one attempt. The test clips are ``tests.fixtures.clips``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from reelstream.auth.accounts import find_user
from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.processing.jobs import claim_next, run_job
from reelstream.services import Services, build_services
from reelstream.storage.keys import source_key
from reelstream.videos import repository as videos


@pytest.fixture
def prepared(settings: Settings) -> Settings:
    """The test settings with folders made and the schema migrated (outside the event loop)."""
    settings.prepare()
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
async def services(prepared: Settings) -> AsyncIterator[Services]:
    svc = build_services(prepared)
    yield svc
    await svc.close()


async def queue_video(
    services: Services, source: Path, *, title: str = "test", owner: str | None = "owner"
) -> str:
    """What a finished upload does: video row, stored source, queued job (one transaction).
    The video belongs to the user named ``owner`` (the ``client`` fixture's user) if any."""
    async with services.db.transaction() as s:
        user = await find_user(s, owner) if owner else None
        video = await videos.create_video(
            s, title=title, filename=source.name, owner_id=user.id if user else None
        )
        key = source_key(video.id)
        info = await services.store.put_file(key, source)
        await videos.mark_uploaded(s, video, source_key=key, source_bytes=info.size)
        await services.queue.enqueue(s, video.id)
    return video.id


async def transcode_next(services: Services) -> str:
    """Claim the next job and run one attempt in-process; returns the outcome."""

    lease = await claim_next(services, "test:1:0")
    assert lease is not None, "no job was due"
    return await run_job(services, lease)


def ffmpeg_children() -> list[psutil.Process]:
    """ffmpeg processes started by this test process."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "ffmpeg" in child.name() or any("ffmpeg" in a for a in child.cmdline()[:1]):
                out.append(child)
        except psutil.NoSuchProcess:
            continue
    return out
