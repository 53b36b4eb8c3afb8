"""The ``poster`` job: regenerate a ready video's poster at the time its owner chose.

``POST /api/v1/videos/{id}/poster`` stores the time in ``videos.poster_at_s`` and enqueues a
job of kind ``poster`` (same queue, leases and retries as transcodes). An attempt decodes one
frame of the source at that time, scaled to the top rendition, and stores it as
``poster-{job id}.jpg`` under the published rev: a NEW name per regeneration, so the long
``immutable`` cache header on posters stays true and no cache serves a stale image. The video
then points at it (``videos.media["poster"]``) in one transaction fenced on the lease; the
previous custom poster is removed afterwards. If another rev was published meanwhile (a
rendition retry, a re-transcode), the picture is copied into that rev and used there.

A poster job never changes the video's status: a failure is recorded on the job only (the
video keeps playing with its previous poster).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

import anyio

from reelstream.queue.errors import LeaseLost
from reelstream.queue.heartbeat import run_with_heartbeats
from reelstream.queue.jobs import Lease
from reelstream.services import Services
from reelstream.storage.base import rev_prefix, source_key
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.transcode.errors import InvalidMedia, TranscodeError
from reelstream.transcode.ffmpeg import build_poster_argv, run_ffmpeg
from reelstream.transcode.pipeline import local_source, work_dir_name
from reelstream.transcode.probe import sniff_file
from reelstream.transcode.publishing import POSTER_NAME
from reelstream.videos import repository as videos
from reelstream.videos.errors import VideoNotFound

log = logging.getLogger(__name__)

POSTER_KIND = "poster"
POSTER_TIMEOUT_S = 300.0


def poster_name(lease: Lease) -> str:
    return f"poster-{lease.job_id}.jpg"


class PosterAttempt:
    def __init__(self, services: Services, lease: Lease) -> None:
        self.services = services
        self.lease = lease
        self.video_id = lease.video_id
        self.work = services.settings.work_dir / work_dir_name(lease)

    async def run(self) -> str:
        try:
            return await self._run()
        finally:
            await anyio.to_thread.run_sync(_remove_tree, self.work)

    async def _run(self) -> str:
        try:
            return await run_with_heartbeats(
                self.services.queue,
                self.lease,
                self._produce(),
                every_s=self.services.settings.heartbeat_s,
            )
        except LeaseLost:
            return "lease_lost"
        except VideoNotFound:
            return "deleted"
        except InvalidMedia as exc:
            return await self._fail(exc.message, retryable=False)
        except TranscodeError as exc:
            return await self._fail(exc.message, retryable=exc.retryable)
        except BlobNotFound:
            return await self._fail("the uploaded file is missing from storage", retryable=False)
        except StorageError as exc:
            return await self._fail(f"storage error: {exc.message}", retryable=True)

    async def _fail(self, reason: str, *, retryable: bool) -> str:
        log.warning(
            "video %s: poster attempt %d failed: %s", self.video_id, self.lease.attempt, reason
        )
        async with self.services.db.transaction() as s:
            outcome = await self.services.queue.fail(s, self.lease, reason, retryable=retryable)
        if outcome is None:
            return "lease_lost"
        return "failed" if outcome.final else "retry"

    async def _produce(self) -> str:
        settings = self.services.settings
        async with self.services.db.read(primary=True) as s:
            video = await videos.get_video(s, self.video_id)
            rev = video.published_rev
            at = video.poster_at_s
            key = video.source_key or source_key(self.video_id)
            top = max(video.renditions, key=lambda r: r.height, default=None)
            ready = video.status == "ready"
        if not ready or rev is None or at is None or top is None:
            async with self.services.db.transaction() as s:
                if not await self.services.queue.complete(s, self.lease):
                    raise LeaseLost("the job's lease was lost")
            log.info("video %s: poster job skipped (the video is not ready)", self.video_id)
            return "skipped"
        await anyio.to_thread.run_sync(_fresh_dir, self.work)
        source = await local_source(self.services, key, self.work)
        container = await anyio.to_thread.run_sync(sniff_file, source, settings)
        dest = self.work / "poster.jpg"
        argv = build_poster_argv(
            settings, container, source, dest, at_s=at, width=top.width, height=top.height
        )
        await run_ffmpeg(argv, timeout_s=POSTER_TIMEOUT_S, stderr_path=self.work / "poster.log")
        if not dest.is_file() or dest.stat().st_size == 0:
            raise TranscodeError(f"ffmpeg produced no picture at {at:.3f} s")
        name = poster_name(self.lease)
        store = self.services.store
        await store.put_file(f"{rev_prefix(self.video_id, rev)}/{name}", dest, move=True)
        async with self.services.db.transaction() as s:
            row = await videos.get_video(s, self.video_id, for_update=True)
            if not await self.services.queue.complete(s, self.lease):
                raise LeaseLost("the job's lease was lost before publishing the poster")
            current = row.published_rev or rev
            if current != rev:  # another rev was published meanwhile: the poster goes there
                await store.copy(
                    f"{rev_prefix(self.video_id, rev)}/{name}",
                    f"{rev_prefix(self.video_id, current)}/{name}",
                )
            media = dict(row.media or {})
            previous = media.get("poster")
            media["poster"] = name
            row.media = media
            await s.flush()
        if previous not in (None, POSTER_NAME, name):
            with contextlib.suppress(StorageError):
                await store.delete(f"{rev_prefix(self.video_id, current)}/{previous}")
        return "published"


async def run_poster(services: Services, lease: Lease) -> str:
    outcome = await PosterAttempt(services, lease).run()
    log.info("video %s poster job %d: %s", lease.video_id, lease.job_id, outcome)
    return outcome


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
