"""A ``rendition`` job: some renditions that failed on their own, added to the published rev.

The attempt encodes the renditions named in its payload one by one (no audio: the published
rev has it), copies the published rev's other files into its own rev (server-side on S3) and
publishes that rev with the merged layout. If another rev was published meanwhile, it steps
aside. The video stays ``ready`` and playable throughout; a failure is recorded on the job
only, and the old rev is removed after the playback-token grace period (``cleanup``, enqueued
by the publish, as for every kind).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.models import Video
from reelstream.media.errors import InvalidMedia
from reelstream.media.ladder import RungPlan
from reelstream.media.layout import MASTER_NAME, MPD_NAME, POSTER_NAME, Layout
from reelstream.media.packaging import Measured, Packaged, measure_track
from reelstream.media.probe import Container, MediaInfo
from reelstream.media.storyboard import StoryboardPlan
from reelstream.processing.pipeline import UPLOAD_CONCURRENCY, Attempt
from reelstream.queue.jobs import Lease
from reelstream.storage.keys import rev_prefix
from reelstream.videos.publishing import load_layout

if TYPE_CHECKING:
    from reelstream.services import Services


@dataclass(frozen=True)
class Base:
    """The published rev a ``rendition`` job adds its renditions to."""

    rev: str
    layout: Layout


class RenditionAttempt(Attempt):
    def __init__(self, services: Services, lease: Lease) -> None:
        super().__init__(services, lease)
        self.only = [str(n) for n in lease.payload.get("renditions") or []]
        self.base: Base | None = None

    @property
    def _base(self) -> Base:
        assert self.base is not None, "the published rev is read before anything else"
        return self.base

    async def loaded(self, session: AsyncSession, video: Video) -> None:
        layout = await load_layout(session, self.video_id)
        if video.status != "ready" or video.published_rev is None or layout is None:
            raise InvalidMedia(
                "the video has no published renditions to add to; retry the whole video"
            )
        self.base = Base(video.published_rev, layout)

    def renditions(self, planned: list[RungPlan]) -> list[RungPlan]:
        """The job's renditions, as the ladder plans them today."""
        by_name = {rung.name: rung for rung in planned}
        missing = [name for name in self.only if name not in by_name]
        if missing:
            raise InvalidMedia(
                f"the ladder no longer has rendition(s) {', '.join(missing)}; "
                "retry the whole video instead"
            )
        return [by_name[name] for name in self.only]

    def with_audio(self, info: MediaInfo) -> bool:
        return False

    async def encode(
        self, source: Path, out: Path, container: Container, info: MediaInfo, rungs: list[RungPlan]
    ) -> tuple[list[RungPlan], StoryboardPlan | None]:
        return await self.encode_each(source, out, container, info, rungs, audio=False), None

    async def package(
        self, out: Path, encoded: list[RungPlan], info: MediaInfo, storyboard: StoryboardPlan | None
    ) -> tuple[Packaged, int]:
        """This rev: the published rev's files (except its manifests and the renditions
        encoded again) copied, plus the new renditions; the layouts merged."""
        base = self._base

        def measure() -> list[Measured]:
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
        return packaged, copied + await self.upload(out, packaged)

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

    async def failed(self, session: AsyncSession, final: bool, reason: str, retryable: bool) -> str:
        return "failed" if final else "retry"  # the video keeps what it has

    def superseded(self, video: Video) -> bool:
        return video.published_rev != self._base.rev

    def poster(self, video: Video) -> str:
        return str((video.media or {}).get("poster") or POSTER_NAME)

    def ready_at(self, video: Video) -> dt.datetime | None:
        return video.ready_at
