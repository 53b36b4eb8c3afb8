"""Fixtures for the transcode tests: migrated services on a temp data dir, small test media."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from reelstream.auth.accounts import find_user
from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.services import Services, build_services
from reelstream.storage.base import source_key
from reelstream.transcode.worker import claim_next
from reelstream.videos import repository as videos
from tests.support import FFMPEG, make_clip


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
    services.notifier.notify()
    return video.id


async def transcode_next(services: Services) -> str:
    """Claim the next job and run one attempt in-process; returns the outcome."""
    from reelstream.transcode.pipeline import run_attempt

    lease = await claim_next(services, "test:1:0")
    assert lease is not None, "no job was due"
    return await run_attempt(services, lease)


def _clip(media_dir: Path, name: str, **kwargs: object) -> Path:
    path = media_dir / name
    if not path.exists():
        make_clip(path, **kwargs)  # type: ignore[arg-type]
    return path


@pytest.fixture(scope="session")
def clip4(media_dir: Path) -> Path:
    """4 s, 640x360, 30 fps, with audio."""
    return _clip(media_dir, "clip4.mp4", seconds=4)


@pytest.fixture(scope="session")
def long_clip(media_dir: Path) -> Path:
    """20 s, 1280x720, with audio: long enough to be caught mid-transcode."""
    return _clip(media_dir, "long720.mp4", seconds=20, width=1280, height=720)


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


@pytest.fixture(scope="session")
def silent_clip(media_dir: Path) -> Path:
    return _clip(media_dir, "silent.mp4", seconds=3, audio=False)


@pytest.fixture(scope="session")
def portrait_clip(media_dir: Path) -> Path:
    return _clip(media_dir, "portrait.mp4", seconds=3, width=360, height=640)


@pytest.fixture(scope="session")
def odd_clip(media_dir: Path) -> Path:
    """641x359 (odd both ways; 4:4:4 so the encoder accepts odd sizes)."""
    return _clip(
        media_dir,
        "odd.mp4",
        seconds=3,
        width=641,
        height=359,
        extra=["-vf", "scale=641:359,setsar=1", "-pix_fmt", "yuv444p"],
    )


@pytest.fixture(scope="session")
def vfr_clip(media_dir: Path) -> Path:
    """30 fps for 2 s, then every third frame kept (10 fps): variable frame rate."""
    return _clip(
        media_dir,
        "vfr.mp4",
        seconds=4,
        extra=["-vf", "select='lt(t\\,2)+not(mod(n\\,3))'", "-fps_mode", "vfr"],
    )


@pytest.fixture(scope="session")
def rotated_clip(media_dir: Path) -> Path:
    """A 640x360 picture with a 90-degree display matrix (a portrait phone recording)."""
    path = media_dir / "rotated.mp4"
    if not path.exists():
        plain = _clip(media_dir, "to_rotate.mp4", seconds=3)
        cmd = [FFMPEG, "-nostdin", "-y", "-loglevel", "error", "-display_rotation", "90"]
        subprocess.run([*cmd, "-i", str(plain), "-c", "copy", str(path)], check=True, timeout=60)
    return path
