"""One transcode attempt for one lease: fetch, probe, encode, package, upload, publish.

Everything an attempt writes to storage lives under ``videos/{vid}/r/{rev}/`` (its own ``rev``),
and becomes visible only through one transaction that completes the job (fenced on the lease)
and points the video at that rev. So a worker that dies, loses its lease or fails leaves at
most an unreferenced folder, which it (or the reaper) removes; viewers never see partial output.

Heartbeats run beside the work every ``settings.heartbeat_s``; when one reports the lease lost,
the work is cancelled (which kills ffmpeg) and nothing is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import anyio

from reelstream.db import videos
from reelstream.db.errors import VideoNotFound
from reelstream.queue.errors import LeaseLost
from reelstream.queue.jobs import Lease
from reelstream.services import Services
from reelstream.storage.base import rev_prefix, source_key
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.transcode.errors import InvalidMedia, TranscodeError
from reelstream.transcode.ffmpeg import (
    AUDIO_NAME,
    build_ladder_argv,
    build_poster_argv,
    poster_time,
    run_ffmpeg,
)
from reelstream.transcode.ladder import RungPlan, plan_ladder
from reelstream.transcode.packaging import MASTER_NAME, Package, package
from reelstream.transcode.probe import Container, MediaInfo, probe

log = logging.getLogger(__name__)

POSTER_NAME = "poster.jpg"
UPLOAD_CONCURRENCY = 8
ENCODE_SHARE = 0.9  # progress reported at the end of encoding; upload takes the rest


def work_dir_name(lease: Lease) -> str:
    return f"{lease.job_id}-{lease.attempt}-{lease.rev}"


@dataclass(frozen=True)
class Produced:
    info: MediaInfo
    rungs: list[RungPlan]
    package: Package
    output_bytes: int


class Attempt:
    """The state of one attempt; ``run`` never raises except on cancellation."""

    def __init__(self, services: Services, lease: Lease) -> None:
        self.services = services
        self.settings = services.settings
        self.lease = lease
        self.video_id = lease.video_id
        self.prefix = rev_prefix(lease.video_id, lease.rev)
        self.work = self.settings.work_dir / work_dir_name(lease)
        self.progress = 0.0
        self.lost = False

    # -- outcome handling

    async def run(self) -> str:
        """Run the attempt; returns its outcome (the metrics label)."""
        started = time.monotonic()
        metrics = self.services.metrics
        outcome = "error"
        try:
            outcome = await self._run()
        except asyncio.CancelledError:
            outcome = "cancelled"
            await _shielded(self._give_back("the worker shut down during transcoding"))
            raise
        finally:
            await _shielded(anyio.to_thread.run_sync(_remove_tree, self.work))
            metrics.transcode_attempts.labels(outcome).inc()
            if outcome == "published":
                metrics.transcode_seconds.observe(time.monotonic() - started)
            log.info(
                "video %s attempt %d (rev %s): %s in %.1f s",
                self.video_id,
                self.lease.attempt,
                self.lease.rev,
                outcome,
                time.monotonic() - started,
            )
        return outcome

    async def _run(self) -> str:
        try:
            produced = await self._produce_with_heartbeats()
            return await self._publish(produced)
        except (LeaseLost, VideoNotFound) as exc:
            log.info("video %s: stopping attempt %d: %s", self.video_id, self.lease.attempt, exc)
            await self._discard()
            return "lease_lost" if isinstance(exc, LeaseLost) else "deleted"
        except InvalidMedia as exc:
            return await self._fail(exc.message, retryable=False)
        except TranscodeError as exc:
            return await self._fail(exc.message, retryable=exc.retryable)
        except BlobNotFound:
            return await self._fail("the uploaded file is missing from storage", retryable=False)
        except StorageError as exc:
            return await self._fail(f"storage error: {exc.message}", retryable=True)
        except Exception as exc:
            log.exception(
                "video %s: unexpected error in attempt %d", self.video_id, self.lease.attempt
            )
            return await self._fail(f"internal error ({type(exc).__name__}): {exc}", retryable=True)

    async def _discard(self) -> None:
        try:
            await self.services.store.delete_prefix(self.prefix)
        except StorageError as exc:
            log.warning("cannot remove %s: %s", self.prefix, exc)

    async def _fail(self, reason: str, *, retryable: bool) -> str:
        await self._discard()
        lease = self.lease
        try:
            async with self.services.db.transaction() as s:
                outcome = await self.services.queue.fail(s, lease, reason, retryable=retryable)
                if outcome is None:
                    return "lease_lost"
                if outcome.final:
                    await videos.mark_failed(
                        s, self.video_id, final_reason(reason, lease, retryable)
                    )
                    return "failed"
                await videos.mark_queued(s, self.video_id)
                return "retry"
        except VideoNotFound:
            return "deleted"

    async def _give_back(self, reason: str) -> None:
        """On shutdown: remove partial outputs and hand the job back for another attempt."""
        with contextlib.suppress(Exception):
            await self._fail(reason, retryable=True)

    # -- the work

    async def _produce_with_heartbeats(self) -> Produced:
        work = asyncio.create_task(self._produce())
        beats = asyncio.create_task(self._heartbeats(work))
        try:
            return await work
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.lost and task is not None and not task.cancelling():
                raise LeaseLost("the job's lease was lost (expired or taken over)") from None
            raise
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    async def _heartbeats(self, work: asyncio.Task[Produced]) -> None:
        while not work.done():
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                alive = await self.services.queue.heartbeat(self.lease, self.progress)
            except Exception as exc:  # a busy database must not kill the attempt
                log.warning("video %s: heartbeat failed: %s", self.video_id, exc)
                continue
            if not alive:
                self.lost = True
                work.cancel()
                return

    async def _produce(self) -> Produced:
        settings = self.settings
        await anyio.to_thread.run_sync(_fresh_dir, self.work)
        source = await self._fetch_source()
        info = await probe(source, settings)
        async with self.services.db.transaction() as s:
            await videos.record_probe(
                s,
                self.video_id,
                duration_s=info.duration_s,
                width=info.width,
                height=info.height,
                has_audio=info.has_audio,
                probe=info.to_dict(),
            )
        rungs = plan_ladder(settings.ladder, info.width, info.height, info.fps, vfr=info.vfr)
        container = Container(info.container, info.demuxer)
        out = self.work / "out"
        out.mkdir()
        argv = build_ladder_argv(settings, source, out, container=container, info=info, rungs=rungs)
        poster = asyncio.create_task(self._poster(container, source, out, info, rungs[-1]))
        try:
            await run_ffmpeg(
                argv,
                timeout_s=settings.transcode_timeout_s,
                stderr_path=self.work / "ffmpeg.log",
                on_progress=lambda t: self._on_progress(t, info.duration_s),
            )
        finally:
            if not poster.done():
                poster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poster
        packaged = await anyio.to_thread.run_sync(package, out, rungs, info.has_audio, AUDIO_NAME)
        self.progress = ENCODE_SHARE
        output_bytes = await self._upload(out, packaged)
        return Produced(info, rungs, packaged, output_bytes)

    def _on_progress(self, out_time_s: float, duration_s: float) -> None:
        if duration_s > 0:
            self.progress = max(self.progress, min(1.0, out_time_s / duration_s) * ENCODE_SHARE)

    async def _fetch_source(self) -> Path:
        async with self.services.db.read(primary=True) as s:
            video = await videos.get_video(s, self.video_id)
            key = video.source_key or source_key(self.video_id)
        store = self.services.store
        local = store.local_path(key)
        if local is not None and local.is_file():
            return local
        dest = self.work / "source"
        await store.fetch_to(key, dest)
        return dest

    async def _poster(
        self, container: Container, source: Path, out: Path, info: MediaInfo, top: RungPlan
    ) -> None:
        """The poster image; a failure here is logged, not fatal (the video still plays)."""
        dest = out / POSTER_NAME
        for at in dict.fromkeys((poster_time(self.settings, info.duration_s), 0.0)):
            argv = build_poster_argv(
                self.settings, container, source, dest, at_s=at, width=top.width, height=top.height
            )
            try:
                await run_ffmpeg(argv, timeout_s=120, stderr_path=self.work / "poster.log")
            except TranscodeError as exc:
                log.warning("video %s: poster at %.2f s failed: %s", self.video_id, at, exc)
                continue
            if dest.is_file() and dest.stat().st_size > 0:
                return

    async def _upload(self, out: Path, packaged: Package) -> int:
        """Upload media first, then playlists, the master last; returns the bytes stored."""
        media: list[str] = []
        playlists: list[str] = []
        renditions = [v.video for v in packaged.variants]
        if packaged.audio is not None:
            renditions.append(packaged.audio)
        for rendition in renditions:
            for rel in rendition.files:
                (playlists if rel.endswith(".m3u8") else media).append(rel)
        if (out / POSTER_NAME).is_file():
            media.append(POSTER_NAME)
        total = 0
        store = self.services.store
        limiter = anyio.CapacityLimiter(UPLOAD_CONCURRENCY)

        async def put(rel: str) -> None:
            nonlocal total
            async with limiter:
                info = await store.put_file(f"{self.prefix}/{rel}", out / rel, move=True)
                total += info.size

        for group in (media, playlists, [MASTER_NAME]):
            async with anyio.create_task_group() as tg:
                for rel in group:
                    tg.start_soon(put, rel)
        return total

    # -- publish

    async def _publish(self, produced: Produced) -> str:
        """Complete the job and point the video at this rev, in one transaction."""
        specs = [
            videos.RenditionSpec(
                name=v.rung.name,
                width=v.rung.width,
                height=v.rung.height,
                bandwidth=v.bandwidth,
                average_bandwidth=v.average_bandwidth,
                codecs=v.codecs,
                playlist=v.rung.playlist,
            )
            for v in produced.package.variants
        ]
        async with self.services.db.transaction() as s:
            if not await self.services.queue.complete(s, self.lease):
                raise LeaseLost("the job's lease was lost before publishing")
            await videos.publish(
                s,
                self.video_id,
                rev=self.lease.rev,
                renditions=specs,
                output_bytes=produced.output_bytes,
            )
        await remove_stale_revs(self.services, self.video_id, keep=self.lease.rev)
        return "published"


def final_reason(reason: str, lease: Lease, retryable: bool) -> str:
    """The video's ``error`` once the job failed for good."""
    if not retryable:
        return reason
    n = lease.attempt
    return f"transcoding failed after {n} attempt{'s' if n != 1 else ''}: {reason}"


async def remove_stale_revs(services: Services, video_id: str, *, keep: str) -> None:
    """Delete every ``videos/{vid}/r/*`` folder except the published rev ``keep``."""
    store = services.store
    root = f"videos/{video_id}/r"
    try:
        revs = {blob.key.split("/")[3] for blob in await store.list(root)}
        for rev in sorted(revs - {keep}):
            await store.delete_prefix(rev_prefix(video_id, rev))
    except StorageError as exc:
        log.warning("video %s: cannot remove old outputs: %s", video_id, exc)


async def run_attempt(services: Services, lease: Lease) -> str:
    """Run one attempt for ``lease``; returns its outcome."""
    return await Attempt(services, lease).run()


async def _shielded(awaitable: Awaitable[object]) -> None:
    """Await cleanup even while the caller is being cancelled."""
    task = asyncio.ensure_future(awaitable)
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.shield(task)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
