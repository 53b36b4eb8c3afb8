"""A ``transcode`` job: the whole ladder of a video, its storyboard and poster, as a new rev.

Two ffmpeg processes run side by side: the *lead* encodes the lowest rung, the audio and the
storyboard thumbnails at normal priority; the *rest* encodes the other rungs at a lower one (the
CPU goes to what viewers wait for first; both decode the source, which costs one decode more
than a single ladder process, measured in docs/benchmarks.md). When the video was never ready,
the rev is published while the lead grows (``reelstream.processing.progressive``): the video
plays seconds after its upload, at the lowest rung, and the final publish adds every rung.
Packaging measures what was encoded into a ``Layout``; the manifests (HLS master with the
video's captions, DASH MPD) are written by ``reelstream.videos.publishing`` inside the publish
transaction. The video's status follows the attempt: ``processing`` while it runs (``playable``
early), ``ready`` when it publishes, ``queued`` again for a retry, ``failed`` when out of
attempts.

A rendition that fails on its own costs only itself: when one of the two encodes fails, the
attempt encodes its renditions one ffmpeg each (same keyframe grid and segmenting, so they line
up; when the lead failed, the storyboard comes from a decode of its own). If some succeed, the
video is published with them, and the timeline keeps the failed ones with their reason; their
owner can retry just those (``reelstream.processing.retry``, run by ``rendition_job``). The
audio must succeed, and at least one video rendition, or the attempt fails as a whole.

A new source for a published video (``payload["source"]``, queued by ``reelstream.ingest`` when
its owner replaced the source) is transcoded like any other, but the video keeps its published
version, status and facts until this rev is published: then one transaction switches the rev,
the source, the probe facts and the poster (the one chosen for the old source is dropped), and
queues the removal of the old source after the playback grace. If it fails for good, the video
stays as it was (``ready``, the old version playing), the job says why, and the new source is
removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream import webhooks
from reelstream.db.models import Video
from reelstream.fsutil import fresh_dir
from reelstream.media.errors import FFmpegFailed, TranscodeError
from reelstream.media.ffmpeg import (
    AUDIO_NAME,
    build_ladder_argv,
    build_poster_argv,
    build_thumbs_argv,
    build_tile_argv,
    poster_time,
    run_ffmpeg,
    storyboard_for,
)
from reelstream.media.ladder import RungPlan
from reelstream.media.layout import POSTER_NAME
from reelstream.media.packaging import Packaged
from reelstream.media.packaging import package as package_outputs
from reelstream.media.probe import Container, MediaInfo
from reelstream.media.storyboard import FOLDER as STORYBOARD_FOLDER
from reelstream.media.storyboard import VTT_NAME as STORYBOARD_VTT
from reelstream.media.storyboard import StoryboardPlan, storyboard_vtt
from reelstream.processing import chunked
from reelstream.processing.chunk_job import ChunkAttempt
from reelstream.processing.cleanup import grace_s, schedule_cleanup, schedule_source_removal
from reelstream.processing.pipeline import Attempt, Produced, remove_outputs
from reelstream.processing.progressive import Progressive, resume_floors
from reelstream.queue.jobs import Lease
from reelstream.queue.kinds import CHUNK
from reelstream.videos import repository as videos

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

STORYBOARD_TIMEOUT_S = 300.0
REST_NICE = 10  # the rest of the ladder yields the CPU to the lead, which viewers wait for
POSTER_TIMEOUT_S = 120
NEW_FACTS = "new_facts"  # payload: the probe facts of a replacing source, set on publish


class TranscodeAttempt(Attempt):
    def __init__(self, services: Services, lease: Lease) -> None:
        super().__init__(services, lease)
        self.poster_at_s: float | None = None  # chosen by the owner (POST .../poster)
        self.chunked_rest: list[RungPlan] = []  # rungs encoded by chunk jobs (``chunked``)
        # the replacing source of a published video (see the module docstring), its facts
        source = lease.payload.get("source")
        self.new_source: str | None = str(source) if source else None

    async def produce(self) -> Produced:
        if "lead" in self.lease.payload:  # the lead is stored; this attempt assembles
            return await chunked.resume(self)
        produced = await super().produce()
        if self.chunked_rest:
            return await chunked.gather(self, produced, self.chunked_rest)
        return produced

    async def planned(self, info: MediaInfo, rungs: list[RungPlan]) -> list[RungPlan]:
        chunks = chunked.chunk_plan(self, info, rungs)
        if chunks:
            if "rev" not in self.lease.payload:  # a retry finds its chunks queued already
                await chunked.start_chunks(self, rungs[1:], chunks)
            self.keep_rev = True  # the chunk jobs write into it
            self.chunked_rest = rungs[1:]
        return rungs

    async def loaded(self, session: AsyncSession, video: Video) -> None:
        self.poster_at_s = None if self.new_source else video.poster_at_s
        # A video that was never ready plays while it is processed; one that was keeps its
        # complete rev until this one is complete.
        self.progressive = self.settings.progressive_publish and video.ready_at is None
        if self.lease.payload.get("rev"):  # an earlier attempt queued chunks writing into it
            self.rev = str(self.lease.payload["rev"])
            self.keep_rev = True
            self.rev_published = video.published_rev == self.rev
        elif video.ready_at is None and video.published_rev is not None:
            # an earlier attempt made it playable from this rev: players may hold it
            self.rev = video.published_rev
            self.rev_published = True

    async def probed(self, info: MediaInfo) -> None:
        if self.new_source is not None:  # the published version keeps its facts till publish
            # (in the payload: a chunked transcode's assembling attempt publishes them)
            self.lease.payload[NEW_FACTS] = {
                "duration_s": info.duration_s,
                "width": info.width,
                "height": info.height,
                "has_audio": info.has_audio,
                "probe": info.to_dict(),
            }
            return
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

    def with_audio(self, info: MediaInfo) -> bool:
        return info.has_audio

    async def encode(
        self, source: Path, out: Path, container: Container, info: MediaInfo, rungs: list[RungPlan]
    ) -> tuple[list[RungPlan], StoryboardPlan | None]:
        """The lead (lowest rung, audio, storyboard thumbnails; published while it grows when
        the video was never ready) beside the rest of the ladder, the poster meanwhile; a
        group that fails is encoded again one rendition per ffmpeg (a failing one costs only
        itself)."""
        storyboard = storyboard_for(info, rungs)
        (out / STORYBOARD_FOLDER).mkdir()
        lead_names = [rungs[0].name] + ([AUDIO_NAME] if info.has_audio else [])
        for name in [*lead_names, *(rung.name for rung in rungs[1:])]:
            self.timeline.start("encode", name)
        for rung in self.chunked_rest:
            self.timeline.stage("encode", rung.name).detail = "encoded in chunks by any worker"
        if self.progressive:
            self.timeline.start("playable")
        await self.save()
        # The poster is made meanwhile; a short clip's ladder can finish first, so the poster
        # is awaited (bounded by its own timeout), and cancelled only when the encode fails.
        poster = asyncio.create_task(self._poster(container, source, out, info, rungs[-1]))
        try:
            encoded = await self._encode_split(
                source, out, container, info, rungs, storyboard, lead_names
            )
        except BaseException:
            poster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poster
            raise
        await poster
        return encoded

    async def _encode_split(
        self,
        source: Path,
        out: Path,
        container: Container,
        info: MediaInfo,
        rungs: list[RungPlan],
        storyboard: StoryboardPlan,
        lead_names: list[str],
    ) -> tuple[list[RungPlan], StoryboardPlan | None]:
        lead, rest = rungs[:1], [r for r in rungs[1:] if r not in self.chunked_rest]
        rest_names = [rung.name for rung in rest]
        progressive: Progressive | None = None
        if self.progressive:
            floors = await resume_floors(self, lead_names) if self.rev_published else None
            progressive = Progressive(self, out, lead[0], rungs, info, resumed=floors)
        lead_argv = build_ladder_argv(
            self.options,
            source,
            out,
            container=container,
            info=info,
            rungs=lead,
            storyboard=storyboard,
            growing=progressive is not None,
        )
        lead_task = asyncio.create_task(self._ffmpeg(lead_argv, "lead", info, lead_names))
        rest_task = None
        if rest:
            rest_argv = build_ladder_argv(
                self.options, source, out, container=container, info=info, rungs=rest,
                with_audio=False,
            )  # fmt: skip
            rest_task = asyncio.create_task(
                self._ffmpeg(rest_argv, "rest", info, rest_names, nice=REST_NICE)
            )
        helper = None
        if self.chunked_rest:  # the rest is in chunks: this worker takes some meanwhile
            helper = asyncio.create_task(self._help_with_chunks(lead_task))
        tasks = [t for t in (lead_task, rest_task, helper) if t is not None]
        try:
            if progressive is not None:
                await progressive.follow(lead_task)
            lead_failed = await lead_task
            if lead_failed is None and progressive is not None:
                await progressive.finish()
            rest_failed = await rest_task if rest_task is not None else None
            if helper is not None:
                await helper
        except BaseException:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            raise
        encoded = [*lead, *rest]
        made: StoryboardPlan | None = storyboard
        if lead_failed is not None:
            self._encode_failed(lead_failed, lead_names)
        if rest_failed is not None:
            self._encode_failed(rest_failed, rest_names)
        if lead_failed is not None:
            # each alone; the storyboard then from its own decode (a failing storyboard
            # costs only the storyboard)
            await anyio.to_thread.run_sync(remove_outputs, out, [*lead_names, STORYBOARD_FOLDER])
            kept = self.stored.items()
            self.stored = {rel: n for rel, n in kept if rel.split("/")[0] not in lead_names}
            again = await self.encode_each(
                source, out, container, info, lead, audio=info.has_audio, require=False
            )
            encoded = [r for r in encoded if r not in lead or r in again]
            made = await self._storyboard_alone(source, out, container, storyboard)
        else:
            for name in lead_names:
                self.timeline.done("encode", name)
        if rest_failed is not None:
            await anyio.to_thread.run_sync(remove_outputs, out, rest_names)
            again = await self.encode_each(
                source, out, container, info, rest, audio=False, require=False
            )
            encoded = [r for r in encoded if r not in rest or r in again]
        else:
            for name in rest_names:
                self.timeline.done("encode", name)
        await self.save()
        if not encoded:
            raise lead_failed or rest_failed or TranscodeError("no rendition could be encoded")
        if lead_failed is None:
            await self._tile_storyboard(out / STORYBOARD_FOLDER, storyboard)
        return encoded, made

    async def _help_with_chunks(self, lead: asyncio.Task[FFmpegFailed | None]) -> None:
        """While the lead runs, encode this video's chunks here too, one after another, at the
        rest's lower priority: one worker keeps every core busy, as when the rest of the
        ladder runs beside the lead (a chunk taken finishes even if the lead ends first)."""
        owner = self.lease.owner
        while not lead.done():
            async with self.services.db.transaction() as s:
                lease = await self.services.queue.claim(
                    s, owner, kind=CHUNK, video_id=self.video_id
                )
            if lease is None:
                return
            await ChunkAttempt(self.services, lease, nice=REST_NICE).run()

    async def _ffmpeg(
        self, argv: list[str], what: str, info: MediaInfo, names: list[str], *, nice: int = 0
    ) -> FFmpegFailed | None:
        """Run one of the attempt's two encodes; its failure is returned, not raised (the
        other one goes on, and the failed group is encoded again rendition by rendition)."""
        try:
            await run_ffmpeg(
                argv,
                timeout_s=self.options.timeout_s,
                stderr_path=self.work / f"ffmpeg-{what}.log",
                on_progress=lambda t: self.on_progress(t, info.duration_s, names),
                nice=nice,
            )
        except FFmpegFailed as exc:
            return exc
        return None

    def _encode_failed(self, exc: FFmpegFailed, names: list[str]) -> None:
        log.warning(
            "video %s: encoding %s failed (%s); encoding each rendition on its own",
            self.video_id,
            ", ".join(names),
            exc.message,
        )
        for name in names:
            self.timeline.reset("encode", name)

    async def package(
        self, out: Path, encoded: list[RungPlan], info: MediaInfo, storyboard: StoryboardPlan | None
    ) -> tuple[Packaged, int]:
        packaged = await anyio.to_thread.run_sync(_package, out, encoded, info, storyboard)
        return packaged, await self.upload(out, packaged)

    async def failed(self, session: AsyncSession, final: bool, reason: str, retryable: bool) -> str:
        if final and self.new_source is not None:
            # the replacing source failed: the published version stays as it is
            await self.services.queue.cancel_children(session, self.lease.job_id, self.video_id)
            await schedule_source_removal(
                session, self.services.queue, self.video_id, self.new_source
            )
            return "failed"
        if final:
            retired = await videos.mark_failed(
                session, self.video_id, final_reason(reason, self.lease, retryable)
            )
            if retired is not None:  # playable while processing: viewers may be in it
                await schedule_cleanup(
                    session, self.services.queue, self.settings, self.video_id, retired
                )
            await self.services.queue.cancel_children(session, self.lease.job_id, self.video_id)
            await webhooks.emit(session, "video.failed", self.video_id)
            return "failed"
        await videos.mark_queued(session, self.video_id)
        return "retry"

    async def given_back(self, session: AsyncSession) -> None:
        await videos.mark_queued(session, self.video_id)

    async def published(self, session: AsyncSession, video: Video) -> None:
        facts = self.lease.payload.get(NEW_FACTS)
        if self.new_source is not None and facts:
            old = video.source_key
            video.source_key = self.new_source
            video.source_bytes = int(self.lease.payload.get("source_bytes") or 0) or None
            video.duration_s = float(facts["duration_s"])
            video.width, video.height = int(facts["width"]), int(facts["height"])
            video.has_audio = bool(facts["has_audio"])
            video.probe = dict(facts["probe"])
            video.poster_at_s = None
            await session.flush()
            if old and old != self.new_source:  # a poster job may still be reading it
                await schedule_source_removal(
                    session, self.services.queue, self.video_id, old, after_s=grace_s(self.settings)
                )
        await webhooks.emit(session, "video.ready", video)

    # -- the storyboard and the poster

    async def _storyboard_alone(
        self, source: Path, out: Path, container: Container, plan: StoryboardPlan
    ) -> StoryboardPlan | None:
        """The storyboard from its own decode of the source (renditions were encoded one by
        one); a failure only costs the storyboard."""
        folder = out / STORYBOARD_FOLDER
        await anyio.to_thread.run_sync(fresh_dir, folder)
        argv = build_thumbs_argv(self.options, source, out, container=container, storyboard=plan)
        try:
            await run_ffmpeg(
                argv, timeout_s=STORYBOARD_TIMEOUT_S, stderr_path=self.work / "thumbs.log"
            )
        except TranscodeError as exc:
            log.warning("video %s: no storyboard: %s", self.video_id, exc)
            return None
        await self._tile_storyboard(folder, plan)
        return plan

    async def _tile_storyboard(self, folder: Path, plan: StoryboardPlan) -> None:
        """Tile the ladder's thumbnails into sheets; a failure only costs the storyboard."""
        if not await anyio.to_thread.run_sync(_count_files, folder, "th_*.jpg"):
            log.warning("video %s: ffmpeg wrote no storyboard thumbnails", self.video_id)
            return
        try:
            await run_ffmpeg(
                build_tile_argv(self.options, folder, plan),
                timeout_s=STORYBOARD_TIMEOUT_S,
                stderr_path=self.work / "storyboard.log",
            )
        except TranscodeError as exc:
            log.warning("video %s: no storyboard: %s", self.video_id, exc)
            await anyio.to_thread.run_sync(_remove_files, folder, "sb_*.jpg")
        finally:
            await anyio.to_thread.run_sync(_remove_files, folder, "th_*.jpg")

    async def _poster(
        self, container: Container, source: Path, out: Path, info: MediaInfo, top: RungPlan
    ) -> None:
        """The poster image; a failure here is logged, not fatal (the video still plays)."""
        dest = out / POSTER_NAME
        first = poster_time(self.options, info.duration_s)
        if self.poster_at_s is not None and self.poster_at_s < info.duration_s:
            first = self.poster_at_s
        for at in dict.fromkeys((first, 0.0)):
            argv = build_poster_argv(
                self.options, container, source, dest, at_s=at, width=top.width, height=top.height
            )
            try:
                await run_ffmpeg(
                    argv, timeout_s=POSTER_TIMEOUT_S, stderr_path=self.work / "poster.log"
                )
            except TranscodeError as exc:
                log.warning("video %s: poster at %.2f s failed: %s", self.video_id, at, exc)
                continue
            if dest.is_file() and dest.stat().st_size > 0:
                return


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
    return package_outputs(
        out, rungs, info.has_audio, AUDIO_NAME, storyboard=vtt, storyboard_files=files
    )


def final_reason(reason: str, lease: Lease, retryable: bool) -> str:
    """The video's ``error`` once the job failed for good."""
    if not retryable:
        return reason
    n = lease.attempt
    return f"transcoding failed after {n} attempt{'s' if n != 1 else ''}: {reason}"


def _count_files(folder: Path, pattern: str) -> int:
    return sum(1 for _ in folder.glob(pattern))


def _remove_files(folder: Path, pattern: str) -> None:
    for path in folder.glob(pattern):
        path.unlink(missing_ok=True)
