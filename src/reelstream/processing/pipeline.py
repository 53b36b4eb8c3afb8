"""The steps every transcode attempt shares: fetch, probe, plan, encode, upload, publish.

Two kinds of job run a transcode attempt, each in its own module over this one:

* ``transcode`` (``ladder_job.TranscodeAttempt``): the whole ladder, the storyboard and the
  poster of a video, published as a new rev; the video's status follows the attempt.
* ``rendition`` (``rendition_job.RenditionAttempt``): some renditions that failed on their own,
  encoded again and published with the published rev's other files as a new rev; the video
  stays ``ready`` and playable throughout.

Everything an attempt writes to storage lives under ``videos/{vid}/r/{rev}/`` (its own ``rev``),
and becomes visible only through one transaction that completes the job (fenced on the lease)
and points the video at that rev. So a worker that dies, loses its lease or fails leaves at
most an unreferenced folder; viewers never see partial output. The attempt (or the reaper)
removes that folder at once when it can; durably, the transaction that ends the job (publish,
supersede, fail for good) enqueues a ``cleanup`` job for every folder it leaves behind, and a
publish retires the rev it replaces only after the playback grace period
(``reelstream.processing.cleanup``).

The attempt runs under ``reelstream.processing.runner`` (heartbeats every
``settings.heartbeat_s``; when one reports the lease lost, the work is cancelled, which kills
ffmpeg, and nothing is published). Heartbeats carry the attempt's timeline
(``reelstream.processing.timeline``): probe, one encode stage per rendition, package, publish;
transitions are written at once.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.models import Video
from reelstream.fsutil import fresh_dir, remove_tree
from reelstream.media.errors import TranscodeError
from reelstream.media.ffmpeg import AUDIO_NAME, build_audio_argv, build_ladder_argv, run_ffmpeg
from reelstream.media.ladder import RungPlan, plan_ladder
from reelstream.media.layout import POSTER_NAME
from reelstream.media.packaging import Packaged
from reelstream.media.probe import Container, MediaInfo, probe
from reelstream.media.storyboard import StoryboardPlan
from reelstream.processing import milestones
from reelstream.processing.cleanup import (
    needs_sweep,
    schedule_cleanup,
    schedule_sweep,
    stored_revs,
)
from reelstream.processing.options import ffmpeg_options
from reelstream.processing.progressive import rendition_specs
from reelstream.processing.runner import LeasedAttempt, local_source
from reelstream.processing.timeline import Timeline, overall_progress, rendition_label
from reelstream.queue.errors import LeaseLost
from reelstream.queue.jobs import Lease, Stages
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import rev_prefix, source_key
from reelstream.videos import repository as videos
from reelstream.videos.captions import list_captions
from reelstream.videos.errors import VideoNotFound
from reelstream.videos.publishing import write_manifests

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

UPLOAD_CONCURRENCY = 8
INTERNAL_ERROR = "an internal error interrupted processing"  # the details go to the log


@dataclass(frozen=True)
class Produced:
    info: MediaInfo | None  # None: assembled from stored parts (chunks), not probed again
    rungs: list[RungPlan]
    package: Packaged
    output_bytes: int


def describe(info: MediaInfo) -> str:
    """What the probe found, for the timeline."""
    audio = f"audio {info.audio_codec}" if info.has_audio else "no audio"
    fps = round(float(info.fps), 2)
    return (
        f"{info.width}x{info.height} {info.video_codec} at {fps:g} fps, "
        f"{info.duration_s:.1f} s, {audio}"
    )


def rendition_error(name: str, exc: TranscodeError) -> str:
    return f"the {rendition_label(name)} rendition failed to encode: {exc.reason}"


class Attempt(LeasedAttempt[Produced]):
    """One transcode attempt; a kind fills in the steps marked abstract."""

    def __init__(self, services: Services, lease: Lease) -> None:
        super().__init__(services, lease)
        self.options = ffmpeg_options(self.settings)
        # the rev this attempt writes: its own, drawn at the claim, unless it resumes into a
        # rev players may already hold (``reelstream.processing.progressive``)
        self.rev = lease.rev
        self.rev_published = False  # players may hold ``rev`` (it was published)
        self.keep_rev = False  # players or other jobs may hold ``rev``: never delete it here
        self.progressive = False  # publish the rev while it grows (set by the kind)
        self.stored: dict[str, int] = {}  # files already stored under ``rev``: their sizes
        self.timeline = Timeline()

    @property
    def prefix(self) -> str:
        return rev_prefix(self.video_id, self.rev)

    # -- the steps a kind writes

    async def loaded(self, session: AsyncSession, video: Video) -> None:
        """The video row was read (before the source is fetched)."""

    async def probed(self, info: MediaInfo) -> None:
        """The source passed the probe."""

    async def planned(self, info: MediaInfo, rungs: list[RungPlan]) -> list[RungPlan]:
        """The renditions to encode are known (before the timeline is planned)."""
        return rungs

    def renditions(self, planned: list[RungPlan]) -> list[RungPlan]:
        """The renditions to encode, of those the ladder plans for this source."""
        return planned

    @abc.abstractmethod
    def with_audio(self, info: MediaInfo) -> bool:
        """Whether this attempt encodes the audio rendition."""

    @abc.abstractmethod
    async def encode(
        self, source: Path, out: Path, container: Container, info: MediaInfo, rungs: list[RungPlan]
    ) -> tuple[list[RungPlan], StoryboardPlan | None]:
        """Encode into ``out``; returns the renditions encoded and the storyboard made."""

    @abc.abstractmethod
    async def package(
        self, out: Path, encoded: list[RungPlan], info: MediaInfo, storyboard: StoryboardPlan | None
    ) -> tuple[Packaged, int]:
        """Measure and upload what was encoded; returns the package and the bytes stored."""

    @abc.abstractmethod
    async def failed(self, session: AsyncSession, final: bool, reason: str, retryable: bool) -> str:
        """The attempt failed (recorded on the job, in ``session``); returns the outcome."""

    async def given_back(self, session: AsyncSession) -> None:
        """The job was handed back on shutdown (in ``session``)."""

    def superseded(self, video: Video) -> bool:
        """Whether another rev was published meanwhile, so this one must step aside."""
        return False

    def poster(self, video: Video) -> str:
        """The poster the published rev shows."""
        return POSTER_NAME

    def ready_at(self, video: Video) -> dt.datetime | None:
        """When the video became ready (``None``: now)."""
        return None

    async def published(self, session: AsyncSession, video: Video) -> None:
        """This rev was published (in the publishing transaction)."""

    # -- the runner's hooks

    def progress(self) -> float | None:
        """The weighted progress of the attempt's stages (``timeline.overall_progress``): the
        same figure the timeline shows beside them."""
        return overall_progress(self.timeline.stages)

    def stages(self) -> Stages | None:
        return self.timeline.to_json()

    async def run(self) -> str:
        started = time.monotonic()
        metrics = self.services.metrics
        outcome = "error"
        try:
            outcome = await super().run()
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            metrics.transcode_attempts.labels(outcome).inc()
            if outcome == "published":
                metrics.transcode_seconds.observe(time.monotonic() - started)
            log.info(
                "video %s attempt %d (rev %s): %s in %.1f s",
                self.video_id,
                self.lease.attempt,
                self.rev,
                outcome,
                time.monotonic() - started,
            )
        return outcome

    async def stopped(self, exc: LeaseLost | VideoNotFound) -> str:
        log.info("video %s: stopping attempt %d: %s", self.video_id, self.lease.attempt, exc)
        await self.discard()
        return await super().stopped(exc)

    async def unexpected(self, exc: Exception) -> str:
        log.exception("video %s: unexpected error in attempt %d", self.video_id, self.lease.attempt)
        return await self.fail(INTERNAL_ERROR, retryable=True)

    async def fail(self, reason: str, *, retryable: bool) -> str:
        await self.discard()
        self.timeline.fail_unfinished(reason)
        stored = await stored_revs(self.services.store, self.video_id)  # after the discard
        queue = self.services.queue
        try:
            async with self.services.db.transaction() as s:
                outcome = await queue.fail(
                    s, self.lease, reason, retryable=retryable, stages=self.timeline.to_json()
                )
                if outcome is None:
                    return "lease_lost"
                if outcome.final:
                    # no publish will ever sweep this job's leftovers (a lost discard, the
                    # revs of killed attempts): the failure enqueues their removal
                    video = await videos.get_video(s, self.video_id)
                    if needs_sweep(stored, keep={video.published_rev}):
                        await schedule_sweep(s, queue, self.video_id)
                return await self.failed(s, outcome.final, reason, retryable)
        except VideoNotFound:
            return "deleted"

    async def give_back(self, reason: str) -> None:
        """On shutdown: remove partial outputs and hand the job back at once, without spending
        an attempt (a rolling restart must not fail a video on its last attempt)."""
        try:
            await self.discard()
            self.timeline.fail_unfinished(reason)
            async with self.services.db.transaction() as s:
                if await self.services.queue.release(s, self.lease, reason):
                    await self.given_back(s)
        except Exception:
            return

    async def discard(self) -> None:
        """Remove what this attempt stored, unless players may hold the rev (it was published
        while still processing) or other jobs write into it (chunks): then it stays, for the
        next attempt to resume into or the job's final failure to retire."""
        if self.rev_published or self.keep_rev:
            return
        try:
            await self.services.store.delete_prefix(self.prefix)
        except StorageError as exc:
            log.warning("cannot remove %s: %s", self.prefix, exc)

    # -- the work

    async def save(self) -> None:
        """Write the timeline now (a transition users should see at once), fenced on the lease;
        a busy database only delays it to the next heartbeat."""
        try:
            alive = await self.services.queue.heartbeat(
                self.lease, self.progress(), self.timeline.to_json()
            )
        except Exception as exc:
            log.warning("video %s: cannot record the timeline: %s", self.video_id, exc)
            return
        if not alive:
            raise LeaseLost("the job's lease was lost (expired or taken over)")

    async def produce(self) -> Produced:
        self.timeline.start("probe")
        await self.save()
        await anyio.to_thread.run_sync(fresh_dir, self.work)
        source = await self.fetch_source()
        info = await probe(source, self.options.limits)
        await self.probed(info)
        self.timeline.done("probe", detail=describe(info))
        planned = plan_ladder(self.options.ladder, info.width, info.height, info.fps, vfr=info.vfr)
        rungs = await self.planned(info, self.renditions(planned))
        if self.progressive:
            self.timeline.plan("playable")
        for rung in rungs:
            self.timeline.plan("encode", rung.name)
        if self.with_audio(info):
            self.timeline.plan("encode", AUDIO_NAME)
        self.timeline.plan("package")
        self.timeline.plan("publish")
        await self.save()
        container = Container(info.container, info.demuxer)
        out = self.work / "out"
        out.mkdir()
        encoded, storyboard = await self.encode(source, out, container, info, rungs)
        self.timeline.start("package")
        await self.save()
        packaged, output_bytes = await self.package(out, encoded, info, storyboard)
        self.timeline.done("package")
        return Produced(info, encoded, packaged, output_bytes)

    async def fetch_source(self) -> Path:
        async with self.services.db.read(primary=True) as s:
            video = await videos.get_video(s, self.video_id)
            # a replacement's transcode reads the new source (``payload["source"]``)
            key = self.lease.payload.get("source") or video.source_key or source_key(self.video_id)
            await self.loaded(s, video)
        return await local_source(self.services, key, self.work)

    async def encode_each(
        self,
        source: Path,
        out: Path,
        container: Container,
        info: MediaInfo,
        rungs: list[RungPlan],
        *,
        audio: bool,
        require: bool = True,
    ) -> list[RungPlan]:
        """One ffmpeg per rendition; returns the renditions that were encoded. The audio (when
        asked for) must succeed, and (``require``) at least one video rendition."""
        duration = info.duration_s
        if audio:
            self.timeline.start("encode", AUDIO_NAME)
            await self.save()
            try:
                await run_ffmpeg(
                    build_audio_argv(self.options, source, out, container=container),
                    timeout_s=self.options.timeout_s,
                    stderr_path=self.work / "audio.log",
                    on_progress=lambda t: self.on_progress(t, duration, [AUDIO_NAME]),
                )
            except TranscodeError as exc:
                self.timeline.fail("encode", AUDIO_NAME, rendition_error(AUDIO_NAME, exc))
                raise
            self.timeline.done("encode", AUDIO_NAME)
        encoded: list[RungPlan] = []
        failures: list[TranscodeError] = []
        for rung in rungs:
            self.timeline.start("encode", rung.name)
            await self.save()
            argv = build_ladder_argv(
                self.options,
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
                    timeout_s=self.options.timeout_s,
                    stderr_path=self.work / f"{rung.name}.log",
                    on_progress=functools.partial(
                        self.on_progress, duration_s=duration, names=[rung.name]
                    ),
                )
            except TranscodeError as exc:
                log.warning("video %s: rendition %s failed: %s", self.video_id, rung.name, exc)
                self.timeline.fail("encode", rung.name, rendition_error(rung.name, exc))
                await anyio.to_thread.run_sync(remove_outputs, out, [rung.name])
                failures.append(exc)
                continue
            self.timeline.done("encode", rung.name)
            encoded.append(rung)
        await self.save()
        if not encoded and require:
            raise worst_failure(failures)
        return encoded

    def on_progress(self, out_time_s: float, duration_s: float, names: list[str]) -> None:
        """ffmpeg's position -> the progress of the renditions it encodes (the attempt's
        follows from its stages, ``progress``)."""
        if duration_s <= 0:
            return
        for name in names:
            self.timeline.progress("encode", name, out_time_s / duration_s)

    async def upload(self, out: Path, packaged: Packaged) -> int:
        """Upload media first, then media playlists; returns the bytes stored. The master and
        the MPD are written when publishing."""
        media: list[str] = []
        playlists: list[str] = []
        for rel in packaged.files:
            if rel in self.stored:  # stored while the rev grew (the lead rung, the audio)
                continue
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
        return total + sum(self.stored.values())

    # -- publish

    async def finish(self, produced: Produced) -> str:
        """Complete the job, write the manifests (with the video's captions) and point the
        video at this rev, in one transaction holding the video's row lock. An attempt whose
        rev was overtaken by another published rev steps aside (its rev is dropped)."""
        layout = produced.package.layout
        specs = rendition_specs(layout, [])
        superseded = False
        first: tuple[dt.datetime | None, tuple[str, ...]] = (None, ())  # milestones reached
        queue = self.services.queue
        stored = await stored_revs(self.services.store, self.video_id)  # before the commit
        async with self.services.db.transaction() as s:
            video = await videos.get_video(s, self.video_id, for_update=True)
            if self.superseded(video):
                superseded = True
                for stage in self.timeline.stages:
                    if stage.state in ("pending", "running"):
                        self.timeline.skip(stage.name, stage.rendition, "superseded")
                if not await queue.complete(s, self.lease, self.timeline.to_json()):
                    raise LeaseLost("the job's lease was lost before publishing")
                await schedule_sweep(s, queue, self.video_id)  # this rev, durably
            else:
                if self.progressive and self.timeline.stage("playable").state != "done":
                    self.timeline.done("playable")  # playable with the final publish
                self.timeline.done("publish")
                if not await queue.complete(s, self.lease, self.timeline.to_json()):
                    raise LeaseLost("the job's lease was lost before publishing")
                captions = await list_captions(s, self.video_id)
                written = await write_manifests(
                    self.services, self.video_id, self.rev, layout, captions
                )
                poster = self.poster(video)
                if video.ready_at is None:  # first ready; first playable too unless progressive
                    reached = ("ready",) if video.published_rev else ("playable", "ready")
                    first = (await milestones.upload_done_at(s, video), reached)
                retired = await videos.publish(
                    s,
                    self.video_id,
                    rev=self.rev,
                    renditions=specs,
                    output_bytes=produced.output_bytes + written.bytes_written,
                    ready_at=self.ready_at(video),
                )
                video.layout = layout.to_json()
                video.media = {**written.media, "poster": poster}
                await s.flush()
                await self.published(s, video)
                if retired is not None:  # viewers may be playing it: it goes after the grace
                    await schedule_cleanup(s, queue, self.settings, self.video_id, retired)
                # revs of earlier attempts whose own clean-up was lost (a killed worker)
                if needs_sweep(stored, keep={self.rev, retired}):
                    await schedule_sweep(s, queue, self.video_id)
        if superseded:
            log.info(
                "video %s: a newer rev was published; dropping rev %s", self.video_id, self.rev
            )
            await self.discard()  # at once; the sweep enqueued above if this is lost
            return "superseded"
        milestones.observe(self.services.metrics, *first)
        return "published"


def worst_failure(failures: list[TranscodeError]) -> TranscodeError:
    """What to raise when every rendition failed: permanent only if every one failed for a
    reason this input meets again (else the attempt is retried)."""
    transient = [exc for exc in failures if exc.retryable]
    return (transient or failures)[-1]


def remove_outputs(out: Path, names: list[str]) -> None:
    """Remove what ffmpeg wrote for some renditions (their folders under ``out``)."""
    for name in names:
        remove_tree(out / name)
