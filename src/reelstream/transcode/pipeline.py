"""One transcode attempt for one lease: fetch, probe, encode, package, upload, publish.

The encode writes the ladder's CMAF segments and the storyboard sheets in one ffmpeg process;
packaging measures them into a ``Layout``; the manifests (HLS master with the video's captions,
DASH MPD) are written by ``reelstream.transcode.publishing`` inside the publish transaction.

Everything an attempt writes to storage lives under ``videos/{vid}/r/{rev}/`` (its own ``rev``),
and becomes visible only through one transaction that completes the job (fenced on the lease)
and points the video at that rev. So a worker that dies, loses its lease or fails leaves at
most an unreferenced folder, which it (or the reaper) removes; viewers never see partial output.

Heartbeats run beside the work every ``settings.heartbeat_s``; when one reports the lease lost,
the work is cancelled (which kills ffmpeg) and nothing is published. They carry the attempt's
timeline (``reelstream.transcode.timeline``): probe, one encode stage per rendition, package,
publish; transitions are written at once.

A rendition that fails on its own costs only itself: when the one-process ladder encode fails,
the attempt encodes the renditions one ffmpeg each (same keyframe grid and segmenting, so they
line up; the storyboard then comes from a decode of its own). If some succeed, the video is
published with them, and the timeline keeps the failed ones with their reason; their owner can
retry just those (``reelstream.transcode.retry``). The audio must succeed, and at least one
video rendition, or the attempt fails as a whole.

A ``rendition`` job is the same attempt restricted to the renditions in its payload: it encodes
them one by one, copies the published rev's other files into its own rev (server-side on S3),
and publishes that rev with the merged layout; if another rev was published meanwhile, it
steps aside. The video stays ``ready`` and playable throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from reelstream import webhooks
from reelstream.queue.errors import LeaseLost
from reelstream.queue.heartbeat import run_with_heartbeats
from reelstream.queue.jobs import Lease
from reelstream.services import Services
from reelstream.storage.base import rev_prefix, source_key
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.transcode.cleanup import schedule_cleanup
from reelstream.transcode.errors import FFmpegFailed, InvalidMedia, TranscodeError
from reelstream.transcode.ffmpeg import (
    AUDIO_NAME,
    build_audio_argv,
    build_ladder_argv,
    build_poster_argv,
    build_thumbs_argv,
    build_tile_argv,
    poster_time,
    run_ffmpeg,
    storyboard_for,
)
from reelstream.transcode.ladder import RungPlan, plan_ladder
from reelstream.transcode.layout import MASTER_NAME, MPD_NAME, Layout
from reelstream.transcode.packaging import Packaged, measure_track, package
from reelstream.transcode.probe import Container, MediaInfo, probe
from reelstream.transcode.publishing import POSTER_NAME, load_layout, write_manifests
from reelstream.transcode.storyboard import FOLDER as STORYBOARD_FOLDER
from reelstream.transcode.storyboard import VTT_NAME as STORYBOARD_VTT
from reelstream.transcode.storyboard import StoryboardPlan, storyboard_vtt
from reelstream.transcode.timeline import RENDITION_KIND, Timeline, rendition_label
from reelstream.videos import repository as videos
from reelstream.videos.captions import list_captions
from reelstream.videos.domain import VideoRendition
from reelstream.videos.errors import VideoNotFound

log = logging.getLogger(__name__)

UPLOAD_CONCURRENCY = 8
ENCODE_SHARE = 0.9  # progress reported at the end of encoding; upload takes the rest
STORYBOARD_TIMEOUT_S = 300.0


def work_dir_name(lease: Lease) -> str:
    return f"{lease.job_id}-{lease.attempt}-{lease.rev}"


@dataclass(frozen=True)
class Produced:
    info: MediaInfo
    rungs: list[RungPlan]
    package: Packaged
    output_bytes: int


@dataclass(frozen=True)
class Base:
    """The published rev a ``rendition`` job adds its renditions to."""

    rev: str
    layout: Layout


def describe(info: MediaInfo) -> str:
    """What the probe found, for the timeline."""
    audio = f"audio {info.audio_codec}" if info.has_audio else "no audio"
    fps = round(float(info.fps), 2)
    return (
        f"{info.width}x{info.height} {info.video_codec} at {fps:g} fps, "
        f"{info.duration_s:.1f} s, {audio}"
    )


def rendition_error(name: str, exc: TranscodeError) -> str:
    return f"the {rendition_label(name)} rendition failed to encode: {exc.message}"


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
        self.poster_at_s: float | None = None  # chosen by the owner (POST .../poster)
        self.timeline = Timeline()
        # a rendition job: only these renditions, added to the published rev ``base``
        self.only: list[str] | None = None
        if lease.kind == RENDITION_KIND:
            self.only = [str(n) for n in lease.payload.get("renditions") or []]
        self.base: Base | None = None

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
            produced = await run_with_heartbeats(
                self.services.queue,
                self.lease,
                self._produce(),
                every_s=self.settings.heartbeat_s,
                progress=lambda: self.progress,
                stages=self.timeline.to_json,
            )
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
        self.timeline.fail_unfinished(reason)
        try:
            async with self.services.db.transaction() as s:
                outcome = await self.services.queue.fail(
                    s, lease, reason, retryable=retryable, stages=self.timeline.to_json()
                )
                if outcome is None:
                    return "lease_lost"
                if self.only is not None:  # a rendition job: the video keeps what it has
                    return "failed" if outcome.final else "retry"
                if outcome.final:
                    await videos.mark_failed(
                        s, self.video_id, final_reason(reason, lease, retryable)
                    )
                    await webhooks.emit(s, "video.failed", self.video_id)
                    return "failed"
                await videos.mark_queued(s, self.video_id)
                return "retry"
        except VideoNotFound:
            return "deleted"

    async def _give_back(self, reason: str) -> None:
        """On shutdown: remove partial outputs and hand the job back at once, without spending
        an attempt (a rolling restart must not fail a video on its last attempt)."""
        with contextlib.suppress(Exception):
            await self._discard()
            self.timeline.fail_unfinished(reason)
            async with self.services.db.transaction() as s:
                if await self.services.queue.release(s, self.lease, reason) and self.only is None:
                    await videos.mark_queued(s, self.video_id)

    # -- the work

    async def _save(self) -> None:
        """Write the timeline now (a transition users should see at once), fenced on the lease;
        a busy database only delays it to the next heartbeat."""
        try:
            alive = await self.services.queue.heartbeat(
                self.lease, self.progress, self.timeline.to_json()
            )
        except Exception as exc:
            log.warning("video %s: cannot record the timeline: %s", self.video_id, exc)
            return
        if not alive:
            raise LeaseLost("the job's lease was lost (expired or taken over)")

    async def _produce(self) -> Produced:
        settings = self.settings
        self.timeline.start("probe")
        await self._save()
        await anyio.to_thread.run_sync(_fresh_dir, self.work)
        source = await self._fetch_source()
        info = await probe(source, settings)
        if self.only is None:
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
        self.timeline.done("probe", detail=describe(info))
        rungs = plan_ladder(settings.ladder, info.width, info.height, info.fps, vfr=info.vfr)
        if self.only is not None:
            rungs = self._wanted(rungs)
        audio = info.has_audio and self.only is None
        for rung in rungs:
            self.timeline.plan("encode", rung.name)
        if audio:
            self.timeline.plan("encode", AUDIO_NAME)
        self.timeline.plan("package")
        self.timeline.plan("publish")
        await self._save()
        container = Container(info.container, info.demuxer)
        out = self.work / "out"
        out.mkdir()
        storyboard: StoryboardPlan | None = None
        if self.only is None:
            encoded, storyboard = await self._encode_ladder(source, out, container, info, rungs)
        else:
            encoded = await self._encode_each(source, out, container, info, rungs, audio=False)
        self.timeline.start("package")
        await self._save()
        if self.only is None:
            packaged = await anyio.to_thread.run_sync(self._package, out, encoded, info, storyboard)
            self.progress = ENCODE_SHARE
            output_bytes = await self._upload(out, packaged)
        else:
            packaged, output_bytes = await self._package_onto_base(out, encoded)
        self.timeline.done("package")
        return Produced(info, encoded, packaged, output_bytes)

    def _wanted(self, rungs: list[RungPlan]) -> list[RungPlan]:
        """A rendition job's renditions, as the ladder plans them today."""
        assert self.only is not None
        planned = {rung.name: rung for rung in rungs}
        missing = [name for name in self.only if name not in planned]
        if missing:
            raise InvalidMedia(
                f"the ladder no longer has rendition(s) {', '.join(missing)}; "
                "retry the whole video instead"
            )
        return [planned[name] for name in self.only]

    async def _encode_ladder(
        self,
        source: Path,
        out: Path,
        container: Container,
        info: MediaInfo,
        rungs: list[RungPlan],
    ) -> tuple[list[RungPlan], StoryboardPlan | None]:
        """The whole ladder (and storyboard) in one ffmpeg; when that fails and there is more
        than one rendition, each rendition on its own (a failing one costs only itself)."""
        settings = self.settings
        storyboard = storyboard_for(info, rungs)
        (out / STORYBOARD_FOLDER).mkdir()
        argv = build_ladder_argv(
            settings,
            source,
            out,
            container=container,
            info=info,
            rungs=rungs,
            storyboard=storyboard,
        )
        names = [rung.name for rung in rungs] + ([AUDIO_NAME] if info.has_audio else [])
        for name in names:
            self.timeline.start("encode", name)
        await self._save()
        poster = asyncio.create_task(self._poster(container, source, out, info, rungs[-1]))
        try:
            await run_ffmpeg(
                argv,
                timeout_s=settings.transcode_timeout_s,
                stderr_path=self.work / "ffmpeg.log",
                on_progress=lambda t: self._on_progress(t, info.duration_s, names),
            )
        except FFmpegFailed as exc:
            if len(rungs) < 2:
                raise
            log.warning(
                "video %s: the ladder encode failed (%s); encoding each rendition on its own",
                self.video_id,
                exc.message,
            )
            await anyio.to_thread.run_sync(_remove_outputs, out, [*names, STORYBOARD_FOLDER])
            for name in names:
                self.timeline.reset("encode", name)
            encoded = await self._encode_each(
                source, out, container, info, rungs, audio=info.has_audio
            )
            return encoded, await self._storyboard_alone(source, out, container, storyboard)
        finally:
            if not poster.done():
                poster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poster
        for name in names:
            self.timeline.done("encode", name)
        await self._save()
        await self._tile_storyboard(out / STORYBOARD_FOLDER, storyboard)
        return rungs, storyboard

    async def _storyboard_alone(
        self, source: Path, out: Path, container: Container, plan: StoryboardPlan
    ) -> StoryboardPlan | None:
        """The storyboard from its own decode of the source (renditions were encoded one by
        one); a failure only costs the storyboard."""
        folder = out / STORYBOARD_FOLDER
        await anyio.to_thread.run_sync(_fresh_dir, folder)
        argv = build_thumbs_argv(self.settings, source, out, container=container, storyboard=plan)
        try:
            await run_ffmpeg(
                argv, timeout_s=STORYBOARD_TIMEOUT_S, stderr_path=self.work / "thumbs.log"
            )
        except TranscodeError as exc:
            log.warning("video %s: no storyboard: %s", self.video_id, exc)
            return None
        await self._tile_storyboard(folder, plan)
        return plan

    async def _encode_each(
        self,
        source: Path,
        out: Path,
        container: Container,
        info: MediaInfo,
        rungs: list[RungPlan],
        *,
        audio: bool,
    ) -> list[RungPlan]:
        """One ffmpeg per rendition; returns the renditions that were encoded. The audio (when
        asked for) must succeed, and at least one video rendition."""
        settings = self.settings
        duration = info.duration_s
        if audio:
            self.timeline.start("encode", AUDIO_NAME)
            await self._save()
            try:
                await run_ffmpeg(
                    build_audio_argv(settings, source, out, container=container),
                    timeout_s=settings.transcode_timeout_s,
                    stderr_path=self.work / "audio.log",
                    on_progress=lambda t: self._on_progress(t, duration, [AUDIO_NAME]),
                )
            except TranscodeError as exc:
                self.timeline.fail("encode", AUDIO_NAME, rendition_error(AUDIO_NAME, exc))
                raise
            self.timeline.done("encode", AUDIO_NAME)
        encoded: list[RungPlan] = []
        failure: TranscodeError | None = None
        for rung in rungs:
            self.timeline.start("encode", rung.name)
            await self._save()
            argv = build_ladder_argv(
                settings,
                source,
                out,
                container=container,
                info=info,
                rungs=[rung],
                with_audio=False,
            )
            try:
                await run_ffmpeg(
                    argv,
                    timeout_s=settings.transcode_timeout_s,
                    stderr_path=self.work / f"{rung.name}.log",
                    on_progress=functools.partial(
                        self._on_progress, duration_s=duration, names=[rung.name]
                    ),
                )
            except TranscodeError as exc:
                log.warning("video %s: rendition %s failed: %s", self.video_id, rung.name, exc)
                self.timeline.fail("encode", rung.name, rendition_error(rung.name, exc))
                await anyio.to_thread.run_sync(_remove_outputs, out, [rung.name])
                failure = exc
                continue
            self.timeline.done("encode", rung.name)
            encoded.append(rung)
        await self._save()
        if not encoded:
            assert failure is not None
            raise failure
        return encoded

    async def _package_onto_base(self, out: Path, encoded: list[RungPlan]) -> tuple[Packaged, int]:
        """A rendition job's rev: the published rev's files (except its manifests and the
        renditions encoded again) copied, plus the new renditions; the layouts merged."""
        base = self.base
        assert base is not None

        def measure() -> list[Any]:
            return [measure_track(out, rung.name, rung) for rung in encoded]

        measured = await anyio.to_thread.run_sync(measure)
        replaced = {rung.name for rung in encoded}
        tracks = [t for t in base.layout.videos if t.name not in replaced]
        tracks += [m.track for m in measured]
        layout = Layout(
            videos=sorted(tracks, key=lambda t: (t.height, t.peak_bps)),
            audio=base.layout.audio,
            duration_s=base.layout.duration_s,
            storyboard=base.layout.storyboard,
        )
        packaged = Packaged(layout, [f for m in measured for f in m.files])
        copied = await self._copy_base(base.rev, replaced)
        self.progress = ENCODE_SHARE
        return packaged, copied + await self._upload(out, packaged)

    async def _copy_base(self, rev: str, replaced: set[str]) -> int:
        store = self.services.store
        source = rev_prefix(self.video_id, rev)
        skip = {MASTER_NAME, MPD_NAME}
        total = 0
        limiter = anyio.CapacityLimiter(UPLOAD_CONCURRENCY)

        async def copy(key: str) -> None:
            nonlocal total
            rel = key[len(source) + 1 :]
            if rel in skip or rel.split("/", 1)[0] in replaced:
                return
            async with limiter:
                info = await store.copy(key, f"{self.prefix}/{rel}")
            total += info.size  # after the await: concurrent copies must not lose updates

        blobs = await store.list(source)
        async with anyio.create_task_group() as tg:
            for blob in blobs:
                tg.start_soon(copy, blob.key)
        return total

    async def _tile_storyboard(self, folder: Path, plan: StoryboardPlan) -> None:
        """Tile the ladder's thumbnails into sheets; a failure only costs the storyboard."""
        if not await anyio.to_thread.run_sync(_count_files, folder, "th_*.jpg"):
            log.warning("video %s: ffmpeg wrote no storyboard thumbnails", self.video_id)
            return
        try:
            await run_ffmpeg(
                build_tile_argv(self.settings, folder, plan),
                timeout_s=STORYBOARD_TIMEOUT_S,
                stderr_path=self.work / "storyboard.log",
            )
        except TranscodeError as exc:
            log.warning("video %s: no storyboard: %s", self.video_id, exc)
            await anyio.to_thread.run_sync(_remove_files, folder, "sb_*.jpg")
        finally:
            await anyio.to_thread.run_sync(_remove_files, folder, "th_*.jpg")

    @staticmethod
    def _package(
        out: Path, rungs: list[RungPlan], info: MediaInfo, storyboard: StoryboardPlan | None
    ) -> Packaged:
        """Index the storyboard sheets ffmpeg wrote (if any), then measure every rendition."""
        folder = out / STORYBOARD_FOLDER
        sheets: list[str] = []
        if storyboard is not None and folder.is_dir():
            sheets = sorted(p.name for p in folder.glob("sb_*.jpg") if p.stat().st_size > 0)
        vtt: str | None = None
        files: list[str] = []
        if sheets and storyboard is not None:
            (folder / STORYBOARD_VTT).write_text(
                storyboard_vtt(storyboard, len(sheets), info.duration_s)
            )
            vtt = storyboard.vtt_path
            files = [f"{STORYBOARD_FOLDER}/{name}" for name in sheets] + [vtt]
        else:
            log.warning("no storyboard sheets; publishing without a storyboard")
        return package(
            out, rungs, info.has_audio, AUDIO_NAME, storyboard=vtt, storyboard_files=files
        )

    def _on_progress(self, out_time_s: float, duration_s: float, names: list[str]) -> None:
        """ffmpeg's position -> the progress of the renditions it encodes, and the attempt's
        (the mean over every planned rendition; finished ones count as whole)."""
        if duration_s <= 0:
            return
        for name in names:
            self.timeline.progress("encode", name, out_time_s / duration_s)
        stages = [s for s in self.timeline.stages if s.name == "encode"]
        if stages:
            done = sum(1.0 if s.state in ("done", "failed") else s.progress for s in stages)
            self.progress = done / len(stages) * ENCODE_SHARE

    async def _fetch_source(self) -> Path:
        async with self.services.db.read(primary=True) as s:
            video = await videos.get_video(s, self.video_id)
            key = video.source_key or source_key(self.video_id)
            self.poster_at_s = video.poster_at_s
            if self.only is not None:
                layout = await load_layout(s, self.video_id)
                if video.status != "ready" or video.published_rev is None or layout is None:
                    raise InvalidMedia(
                        "the video has no published renditions to add to; retry the whole video"
                    )
                self.base = Base(video.published_rev, layout)
        return await local_source(self.services, key, self.work)

    async def _poster(
        self, container: Container, source: Path, out: Path, info: MediaInfo, top: RungPlan
    ) -> None:
        """The poster image; a failure here is logged, not fatal (the video still plays)."""
        dest = out / POSTER_NAME
        first = poster_time(self.settings, info.duration_s)
        if self.poster_at_s is not None and self.poster_at_s < info.duration_s:
            first = self.poster_at_s
        for at in dict.fromkeys((first, 0.0)):
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

    async def _upload(self, out: Path, packaged: Packaged) -> int:
        """Upload media first, then media playlists; returns the bytes stored. The master and
        the MPD are written when publishing."""
        media: list[str] = []
        playlists: list[str] = []
        for rel in packaged.files:
            (playlists if rel.endswith((".m3u8", ".vtt")) else media).append(rel)
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

        for group in (media, playlists):
            async with anyio.create_task_group() as tg:
                for rel in group:
                    tg.start_soon(put, rel)
        return total

    # -- publish

    async def _publish(self, produced: Produced) -> str:
        """Complete the job, write the manifests (with the video's captions) and point the
        video at this rev, in one transaction holding the video's row lock. A rendition job
        whose base rev is no longer the published one steps aside (its rev is dropped)."""
        layout = produced.package.layout
        audio = layout.audio
        specs = [
            VideoRendition(
                name=v.name,
                width=v.width,
                height=v.height,
                bandwidth=v.peak_bps + (audio.peak_bps if audio else 0),
                average_bandwidth=v.average_bps + (audio.average_bps if audio else 0),
                codecs=v.codec + (f",{audio.codec}" if audio else ""),
                playlist=v.playlist,
            )
            for v in sorted(layout.videos, key=lambda v: v.height)
        ]
        superseded = False
        async with self.services.db.transaction() as s:
            video = await videos.get_video(s, self.video_id, for_update=True)
            if self.base is not None and video.published_rev != self.base.rev:
                superseded = True
                for stage in self.timeline.stages:
                    if stage.state in ("pending", "running"):
                        self.timeline.skip(stage.name, stage.rendition, "superseded")
                if not await self.services.queue.complete(s, self.lease, self.timeline.to_json()):
                    raise LeaseLost("the job's lease was lost before publishing")
            else:
                self.timeline.done("publish")
                if not await self.services.queue.complete(s, self.lease, self.timeline.to_json()):
                    raise LeaseLost("the job's lease was lost before publishing")
                captions = await list_captions(s, self.video_id)
                written = await write_manifests(
                    self.services, self.video_id, self.lease.rev, layout, captions
                )
                poster = POSTER_NAME
                if self.base is not None:
                    poster = str((video.media or {}).get("poster") or POSTER_NAME)
                await videos.publish(
                    s,
                    self.video_id,
                    rev=self.lease.rev,
                    renditions=specs,
                    output_bytes=produced.output_bytes + written.bytes_written,
                    ready_at=video.ready_at if self.base is not None else None,
                )
                video.layout = layout.to_json()
                video.media = {**written.media, "poster": poster}
                await s.flush()
                if self.base is None:
                    await webhooks.emit(s, "video.ready", video)
                else:  # viewers may be playing the old rev: it goes after the grace period
                    await schedule_cleanup(
                        s, self.services.queue, self.settings, self.video_id, self.base.rev
                    )
        if superseded:
            log.info("video %s: a newer rev was published; dropping rev %s", *self._ids())
            await self._discard()
            return "superseded"
        if self.base is None:
            await remove_stale_revs(self.services, self.video_id, keep=self.lease.rev)
        return "published"

    def _ids(self) -> tuple[str, str]:
        return self.video_id, self.lease.rev


async def local_source(services: Services, key: str, work: Path) -> Path:
    """A local file ffmpeg can read: the blob itself on local disk, else a copy in ``work``."""
    store = services.store
    local = store.local_path(key)
    if local is not None and local.is_file():
        return local
    dest = work / "source"
    await store.fetch_to(key, dest)
    return dest


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


def _count_files(folder: Path, pattern: str) -> int:
    return sum(1 for _ in folder.glob(pattern))


def _remove_outputs(out: Path, names: list[str]) -> None:
    """Remove what ffmpeg wrote for some renditions (their folders under ``out``)."""
    for name in names:
        shutil.rmtree(out / name, ignore_errors=True)


def _remove_files(folder: Path, pattern: str) -> None:
    for path in folder.glob(pattern):
        path.unlink(missing_ok=True)


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
