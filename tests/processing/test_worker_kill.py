"""A worker SIGKILLed mid-transcode: its ffmpeg dies with it, another worker takes the job
over after the lease expires, and exactly one set of outputs is published."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from reelstream.config import Settings
from reelstream.db.models import Job
from reelstream.media.packaging import parse_attributes, parse_media_playlist
from reelstream.queue.kinds import TRANSCODE
from reelstream.services import Services, build_services
from reelstream.videos import repository as videos
from tests.processing.conftest import queue_video
from tests.support import media_duration, run_server, run_worker, wait_for_status

pytestmark = pytest.mark.e2e


async def job_of(services: Services, video_id: str) -> Job:
    async with services.db.read() as s:
        return (
            await s.execute(select(Job).where(Job.video_id == video_id, Job.kind == TRANSCODE))
        ).scalar_one()


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def logs(data_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in data_dir.glob("worker-*.log"))


def referenced_files(root: Path) -> set[str]:
    """Every file the master playlist reaches, relative to ``root`` (all must exist)."""
    lines = (root / "master.m3u8").read_text().splitlines()
    playlists = [lines[i + 1] for i, x in enumerate(lines) if x.startswith("#EXT-X-STREAM-INF:")]
    playlists += [
        parse_attributes(x.split(":", 1)[1])["URI"] for x in lines if x.startswith("#EXT-X-MEDIA:")
    ]
    files = {"master.m3u8"}
    for uri in playlists:
        folder = uri.rsplit("/", 1)[0]
        media = parse_media_playlist((root / uri).read_text())
        files |= {uri, f"{folder}/{media.init_uri}"}
        files |= {f"{folder}/{s.uri}" for s in media.segments}
    return files


async def test_sigkilled_worker_job_is_finished_by_another(tmp_path: Path, long_clip: Path) -> None:
    data_dir = tmp_path / "data"
    with run_server(data_dir, embedded_workers=False) as server:
        settings = Settings(env="development", data_dir=data_dir, _env_file=None)
        settings.prepare()
        services = build_services(settings)
        try:
            video_id = await queue_video(services, long_clip, title="killed mid-transcode")

            with run_worker(data_dir) as first:
                deadline = time.monotonic() + 120
                while True:
                    job = await job_of(services, video_id)
                    if job.state == "running" and job.progress > 0:
                        break
                    assert first.poll() is None, logs(data_dir)
                    assert time.monotonic() < deadline, f"never started: {logs(data_dir)}"
                    time.sleep(0.1)
                # between two encodes of the ladder (progress already > 0) there may be no
                # ffmpeg for a moment: look again for up to 10 s
                encoders: list[psutil.Process] = []
                for _ in range(100):
                    encoders = []
                    for child in psutil.Process(first.pid).children(recursive=True):
                        with contextlib.suppress(psutil.NoSuchProcess):  # one just ended
                            if "ffmpeg" in child.name():
                                encoders.append(child)
                    if encoders or first.poll() is not None:
                        break
                    time.sleep(0.1)
                assert encoders, "the worker should be running ffmpeg now"
                first.kill()
                first.wait(10)
                deadline = time.monotonic() + 10
                while alive(encoders) and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert not alive(encoders), "ffmpeg outlived its killed worker"

            with run_worker(data_dir):
                video = wait_for_status(server.base_url, video_id, {"ready", "failed"}, 240)
                assert video["status"] == "ready", f"{video}\n{logs(data_dir)}"

            job = await job_of(services, video_id)
            assert job.attempts == 2 and job.state == "succeeded"
            async with services.db.read() as s:
                published = (await videos.get_video(s, video_id)).published_rev
            revs_dir = settings.resolved_storage_root / "videos" / video_id / "r"
            assert [p.name for p in revs_dir.iterdir()] == [published]
            root = revs_dir / str(published)
            on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
            referenced = referenced_files(root)
            assert referenced <= on_disk, referenced - on_disk
            assert abs(media_duration(str(root / "master.m3u8")) - 20.0) <= 0.5
            assert not list(settings.work_dir.iterdir())
        finally:
            await services.close()
