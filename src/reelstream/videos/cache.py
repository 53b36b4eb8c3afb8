"""Cache-aside for the video metadata viewers read: ``GET /api/v1/videos/{id}`` and its
``/playback``.

What is cached: a ``VideoView`` (the row, its renditions and a summary of its newest job, in
the shapes of ``reelstream.videos.domain``; no signed URL, those are signed per request) under
``reelstream:video:{id}`` for ``settings.cache_ttl_s``. Only videos in a final state are
cached: ``ready`` or ``failed``, with no job in flight. In-flight videos change every second
(progress) and are not hot.

Invalidation: the commit hook of ``reelstream.videos.invalidation`` (installed by
``services.build_services``) calls ``invalidate`` after every committed write that touched a
video, its renditions or its jobs. It does not delete the key but writes a
short-lived tombstone (``settle_s``), and readers fill the cache with an atomic
set-if-absent (``Cache.add``). That closes the fill race: a reader that read the old row
before the write commits cannot store it afterwards, because the tombstone is there; the
same holds for a reader on a streaming replica that lags by less than ``settle_s``. Fills
resume once the tombstone expires. What remains (a reader slower than ``settle_s``, or a
write whose invalidation could not reach Redis) is bounded by the TTL.

A lookup that Redis cannot answer is a miss: the caller loads from the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError

from reelstream.cache import Cache
from reelstream.ids import is_valid_id
from reelstream.videos.domain import JobSummary, VideoRendition

if TYPE_CHECKING:
    from reelstream.db.models import Job, Video
    from reelstream.observability.metrics import Metrics

log = logging.getLogger(__name__)

FORMAT: Final = 5  # bump when VideoView changes: entries of another format are misses
SETTLE_S: Final = 1.0
TOMBSTONE: Final = b"\x00"
FINAL_VIDEO_STATES: Final = frozenset({"ready", "failed"})
FINAL_JOB_STATES: Final = frozenset({"succeeded", "failed", "cancelled"})


def video_key(video_id: str) -> str:
    return f"reelstream:video:{video_id}"


class VideoView(BaseModel):
    """What the viewer paths need of a video, detached from the database session."""

    model_config = ConfigDict(frozen=True)

    format: int = FORMAT
    id: str
    title: str
    filename: str
    visibility: str
    owner_id: str | None = None
    status: str
    error: str | None
    duration_s: float | None
    width: int | None
    height: int | None
    published_rev: str | None
    renditions: list[VideoRendition]
    job: JobSummary | None
    created_at: dt.datetime
    updated_at: dt.datetime
    ready_at: dt.datetime | None
    media: dict[str, Any] | None = None  # videos.media: DASH, storyboard, poster, captions
    view_count: int = 0  # eventually consistent anyway (reelstream.views): may lag by the TTL

    @classmethod
    def from_row(cls, video: Video, job: Job | None) -> VideoView:
        """``job`` is the video's newest job, if any."""
        return cls(
            id=video.id,
            title=video.title,
            filename=video.filename,
            visibility=video.visibility,
            owner_id=video.owner_id,
            status=video.status,
            error=video.error,
            duration_s=video.duration_s,
            width=video.width,
            height=video.height,
            published_rev=video.published_rev,
            renditions=[VideoRendition.of(r) for r in video.renditions],
            job=None if job is None else JobSummary.of(job),
            created_at=video.created_at,
            updated_at=video.updated_at,
            ready_at=video.ready_at,
            media=video.media,
            view_count=video.view_count or 0,
        )

    @property
    def playable(self) -> bool:
        return self.published_rev is not None and any(r.ready for r in self.renditions)

    @property
    def is_final(self) -> bool:
        """Nothing changes this video until someone writes to it (which invalidates it)."""
        return self.status in FINAL_VIDEO_STATES and (
            self.job is None or self.job.state in FINAL_JOB_STATES
        )


class VideoCache:
    """Cache-aside of ``VideoView`` over any ``Cache``."""

    def __init__(
        self,
        cache: Cache,
        ttl_s: float,
        *,
        settle_s: float = SETTLE_S,
        metrics: Metrics | None = None,
    ) -> None:
        self.cache = cache
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self._metrics = metrics

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.cache_lookups.labels(outcome).inc()

    async def get(self, video_id: str) -> VideoView | None:
        if not is_valid_id(video_id):
            return None
        key = video_key(video_id)
        raw = await self.cache.get(key)
        view = None
        if raw is not None and raw != TOMBSTONE:
            try:
                view = VideoView.model_validate_json(raw)
            except ValidationError:
                view = None
            if view is None or view.format != FORMAT or view.id != video_id:
                log.info("dropping an unreadable cache entry for video %s", video_id)
                await self.cache.delete(key)
                view = None
        self._count("miss" if view is None else "hit")
        return view

    async def fill(self, view: VideoView) -> bool:
        """Cache ``view`` if it is final and no write is settling; True when stored."""
        if not view.is_final:
            return False
        return await self.cache.add(video_key(view.id), view.model_dump_json().encode(), self.ttl_s)

    async def load(self, video_id: str, loader: Callable[[], Awaitable[VideoView]]) -> VideoView:
        """The cached view, or ``loader()`` (the database), cached for the next reader."""
        view = await self.get(video_id)
        if view is None:
            view = await loader()
            await self.fill(view)
        return view

    async def invalidate(self, video_ids: Iterable[str]) -> None:
        """A write to these videos committed: drop them, and block fills for ``settle_s``."""
        for video_id in video_ids:
            await self.cache.set(video_key(video_id), TOMBSTONE, self.settle_s)
