"""A ``transcode`` job: the whole ladder of a video, its storyboard and poster, as a new rev.

The encode writes the ladder's CMAF segments and the storyboard sheets in one ffmpeg process;
packaging measures them into a ``Layout``; the manifests (HLS master with the video's captions,
DASH MPD) are written by ``reelstream.videos.publishing`` inside the publish transaction.
The video's status follows the attempt: ``processing`` while it runs, ``ready`` when it
publishes, ``queued`` again for a retry, ``failed`` when out of attempts.

A rendition that fails on its own costs only itself: when the one-process ladder encode fails,
the attempt encodes the renditions one ffmpeg each (even a single one: the storyboard branch is
then left out of its command) (same keyframe grid and segmenting, so they
line up; the storyboard then comes from a decode of its own). If some succeed, the video is
published with them, and the timeline keeps the failed ones with their reason; their owner can
retry just those (``reelstream.processing.retry``, run by ``rendition_job``). The audio must
succeed, and at least one video rendition, or the attempt fails as a whole.
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
from reelstream.processing.pipeline import ENCODE_SHARE, Attempt, remove_outputs
from reelstream.queue.jobs import Lease
from reelstream.videos import repository as videos

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

STORYBOARD_TIMEOUT_S = 300.0
POSTER_TIMEOUT_S = 120


class TranscodeAttempt(Attempt):
    def __init__(self, services: Services, lease: Lease) -> None:
        super().__init__(services, lease)
        self.poster_at_s: float | None = None  # chosen by the owner (POST .../poster)

    async def loaded(self, session: AsyncSession, video: Video) -> None:
        self.poster_at_s = video.poster_at_s

    async def probed(self, info: MediaInfo) -> None:
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
        """The whole ladder (and storyboard) in one ffmpeg, the poster beside it; when that
        fails, each rendition on its own (a failing one costs only itself)."""
        storyboard = storyboard_for(info, rungs)
        (out / STORYBOARD_FOLDER).mkdir()
        argv = build_ladder_argv(
            self.options,
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
        await self.save()
        # The poster is made meanwhile; a short clip's ladder can finish first, so the poster
        # is awaited (bounded by its own timeout), and cancelled only when the encode fails.
        poster = asyncio.create_task(self._poster(container, source, out, info, rungs[-1]))
        try:
            encoded = await self._encode_ladder(
                argv, source, out, container, info, rungs, storyboard, names
            )
        except BaseException:
            poster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poster
            raise
        await poster
        return encoded

    async def _encode_ladder(
        self,
        argv: list[str],
        source: Path,
        out: Path,
        container: Container,
        info: MediaInfo,
        rungs: list[RungPlan],
        storyboard: StoryboardPlan,
        names: list[str],
    ) -> tuple[list[RungPlan], StoryboardPlan | None]:
        try:
            await run_ffmpeg(
                argv,
                timeout_s=self.options.timeout_s,
                stderr_path=self.work / "ffmpeg.log",
                on_progress=lambda t: self.on_progress(t, info.duration_s, names),
            )
        except FFmpegFailed as exc:
            # Encoding each rendition alone also leaves the storyboard branch out of their
            # commands, so a storyboard that cannot be made costs only the storyboard.
            log.warning(
                "video %s: the ladder encode failed (%s); encoding each rendition on its own",
                self.video_id,
                exc.message,
            )
            await anyio.to_thread.run_sync(remove_outputs, out, [*names, STORYBOARD_FOLDER])
            for name in names:
                self.timeline.reset("encode", name)
            encoded = await self.encode_each(
                source, out, container, info, rungs, audio=info.has_audio
            )
            return encoded, await self._storyboard_alone(source, out, container, storyboard)
        for name in names:
            self.timeline.done("encode", name)
        await self.save()
        await self._tile_storyboard(out / STORYBOARD_FOLDER, storyboard)
        return rungs, storyboard

    async def package(
        self, out: Path, encoded: list[RungPlan], info: MediaInfo, storyboard: StoryboardPlan | None
    ) -> tuple[Packaged, int]:
        packaged = await anyio.to_thread.run_sync(_package, out, encoded, info, storyboard)
        self._progress = ENCODE_SHARE
        return packaged, await self.upload(out, packaged)

    async def failed(self, session: AsyncSession, final: bool, reason: str, retryable: bool) -> str:
        if final:
            await videos.mark_failed(
                session, self.video_id, final_reason(reason, self.lease, retryable)
            )
            await webhooks.emit(session, "video.failed", self.video_id)
            return "failed"
        await videos.mark_queued(session, self.video_id)
        return "retry"

    async def given_back(self, session: AsyncSession) -> None:
        await videos.mark_queued(session, self.video_id)

    async def published(self, session: AsyncSession, video: Video) -> None:
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
