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

import anyio

from reelstream.fsutil import fresh_dir
from reelstream.media.errors import TranscodeError
from reelstream.media.ffmpeg import build_poster_argv, run_ffmpeg
from reelstream.media.layout import POSTER_NAME
from reelstream.media.probe import sniff_file
from reelstream.processing.options import ffmpeg_options, probe_limits
from reelstream.processing.runner import LeasedAttempt, local_source
from reelstream.queue.errors import LeaseLost
from reelstream.queue.jobs import Lease
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import rev_prefix, source_key
from reelstream.videos import repository as videos

log = logging.getLogger(__name__)

POSTER_TIMEOUT_S = 300.0


def poster_name(lease: Lease) -> str:
    return f"poster-{lease.job_id}.jpg"


class PosterAttempt(LeasedAttempt[str]):
    async def run(self) -> str:
        outcome = await super().run()
        log.info("video %s poster job %d: %s", self.video_id, self.lease.job_id, outcome)
        return outcome

    async def fail(self, reason: str, *, retryable: bool) -> str:
        log.warning(
            "video %s: poster attempt %d failed: %s", self.video_id, self.lease.attempt, reason
        )
        return await super().fail(reason, retryable=retryable)

    async def produce(self) -> str:
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
        await anyio.to_thread.run_sync(fresh_dir, self.work)
        source = await local_source(self.services, key, self.work)
        container = await anyio.to_thread.run_sync(sniff_file, source, probe_limits(settings))
        dest = self.work / "poster.jpg"
        argv = build_poster_argv(
            ffmpeg_options(settings),
            container,
            source,
            dest,
            at_s=at,
            width=top.width,
            height=top.height,
        )
        await run_ffmpeg(argv, timeout_s=POSTER_TIMEOUT_S, stderr_path=self.work / "poster.log")
        if not dest.is_file() or dest.stat().st_size == 0:
            # the source has no frame at that time: the same request fails again
            raise TranscodeError(f"no picture could be taken at {at:.3f} s", retryable=False)
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
