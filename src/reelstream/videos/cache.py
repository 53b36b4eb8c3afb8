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

The local tier (every mode, in front of Redis or of nothing): a bounded LRU in the process
(``cache_local_entries``, ``cache_local_ttl_s``; ``reelstream.cache.local``) of ``HotView``s,
final views only, with the response bodies rendered from them for anonymous callers
(``HotView.bodies``: one render per signing second, see ``reelstream.videos.hot``). A reader
records the video's generation slot (``reelstream.cache.generations``) before it loads from
Redis or the database and keeps the entry only while the slot is unchanged; the commit hook
bumps the slot (and drops the entry in the writing process) before it writes the Redis
tombstone. The guarantee:

* same process, and every process of the same host sharing the data dir (``--workers N``):
  exact. A client that PATCHes then GETs sees its write on any of them, and a reader that
  loaded the old row while the write committed cannot keep it;
* other hosts (several api hosts in the cluster): a write is seen within ``cache_local_ttl_s``
  (2 s by default) plus what the Redis tier allows (exact, above);
* concurrent misses of one video (an entry expiring under load) share one load;
* the first page of the public listing (``VideoCache.listing``): any video write on this host
  drops it at once (slot 0, "any video changed"); progress of in-flight jobs and other hosts'
  writes show within ``cache_list_ttl_s``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError

from reelstream.cache import Cache
from reelstream.cache.generations import ANY, Generations, LocalGenerations
from reelstream.cache.local import LocalCache
from reelstream.ids import is_valid_id
from reelstream.videos.domain import JobSummary, VideoRendition

if TYPE_CHECKING:
    from prometheus_client import Counter

    from reelstream.db.models import Job, Video
    from reelstream.observability.metrics import Metrics

log = logging.getLogger(__name__)

FORMAT: Final = 5
"""Bump when VideoView changes incompatibly: entries of another format are misses. A field
added with a default (``description``) needs no bump, and must not get one during a rolling
upgrade: the previous release ignores the unknown field of the new one's entries, and the new
one reads the previous release's entries with the default, so both share the cache."""
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
    description: str = ""
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
            description=video.description or "",  # NULL until the contract migration
            filename=video.filename,
            visibility=video.visibility,
            owner_id=video.owner_id,
            status=video.status,
            error=video.error,
            duration_s=video.duration_s,
            width=video.width,
            height=video.height,
            published_rev=video.published_rev,
            renditions=[
                VideoRendition.of(r, (video.media or {}).get("growing", ()))
                for r in video.renditions
            ],
            job=None if job is None else JobSummary.of(job),
            created_at=video.created_at,
            updated_at=video.updated_at,
            ready_at=video.ready_at,
            media=video.media,
            view_count=video.view_count or 0,
        )

    @property
    def playable(self) -> bool:
        return self.published_rev is not None and any(r.playable for r in self.renditions)

    @property
    def is_final(self) -> bool:
        """Nothing changes this video until someone writes to it (which invalidates it)."""
        return self.status in FINAL_VIDEO_STATES and (
            self.job is None or self.job.state in FINAL_JOB_STATES
        )


@dataclass
class HotView:
    """A final view in the local tier, with the bodies rendered from it: ``(kind, base URL)``
    -> ``(token expiry, body)`` (only the newest expiry is kept)."""

    view: VideoView
    bodies: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)


@dataclass
class HotPage:
    """The first page of the public listing, as views, with its rendered bodies."""

    views: list[VideoView]
    next_cursor: str | None
    bodies: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # base URL -> body


class VideoCache:
    """Cache-aside of ``VideoView`` over any ``Cache``, with the local tier in front."""

    def __init__(
        self,
        cache: Cache,
        ttl_s: float,
        *,
        settle_s: float = SETTLE_S,
        metrics: Metrics | None = None,
        generations: Generations | None = None,
        local_entries: int = 4096,
        local_ttl_s: float = 2.0,
        list_ttl_s: float = 1.0,
    ) -> None:
        self.cache = cache
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self.generations = generations or LocalGenerations()
        self.local: LocalCache[HotView] = LocalCache(
            self.generations, max_entries=local_entries, ttl_s=local_ttl_s
        )
        self.listing: LocalCache[HotPage] = LocalCache(
            self.generations, max_entries=8, ttl_s=list_ttl_s, slot_of=lambda _key: ANY
        )
        # video id -> (stamp, load in flight): concurrent misses of one video share one load
        self._loading: dict[str, tuple[int, asyncio.Future[VideoView]]] = {}
        self._pages: dict[str, tuple[int, asyncio.Future[HotPage]]] = {}  # the same, for pages
        self._hit: Counter | None = None
        self._miss: Counter | None = None
        if metrics is not None:
            self._hit = metrics.cache_lookups.labels("hit")
            self._miss = metrics.cache_lookups.labels("miss")

    def _count(self, outcome: str) -> None:
        counter = self._hit if outcome == "hit" else self._miss
        if counter is not None:
            counter.inc()

    def hot(self, video_id: str) -> HotView | None:
        """The local entry of a final video, if this process holds a valid one (no I/O)."""
        hot = self.local.get(video_id)
        if hot is not None:
            self._count("hit")
        return hot

    def hot_page(self, limit: int) -> HotPage | None:
        """The public listing's first page of ``limit`` items, if held and valid (no I/O)."""
        return self.listing.get(str(limit))

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
        """The cached view (local tier, then Redis), or ``loader()`` (the database), cached
        for the next reader."""
        hot = self.hot(video_id)
        if hot is not None:
            return hot.view
        stamp = self.local.stamp(video_id)  # before the load: a write from now on voids it
        pending = self._loading.get(video_id)
        if pending is not None and pending[0] == stamp:  # one load per miss, not one per reader
            return await asyncio.shield(pending[1])
        task = asyncio.ensure_future(self._load(video_id, loader, stamp))
        self._loading[video_id] = (stamp, task)
        try:
            return await asyncio.shield(task)
        finally:
            if self._loading.get(video_id, (0, None))[1] is task:
                del self._loading[video_id]

    async def _load(
        self, video_id: str, loader: Callable[[], Awaitable[VideoView]], stamp: int
    ) -> VideoView:
        view = await self.get(video_id)
        if view is None:
            view = await loader()
            await self.fill(view)
        if view.is_final and view.id == video_id:
            self.local.put(video_id, HotView(view), stamp)
        return view

    async def load_page(self, limit: int, loader: Callable[[], Awaitable[HotPage]]) -> HotPage:
        """The public listing's first page from the local tier, or ``loader()`` (one query
        however many readers miss at once: when the entry expires under load, the others
        wait for that one query instead of each running their own)."""
        key = str(limit)
        page = self.listing.get(key)
        if page is not None:
            return page
        stamp = self.listing.stamp(key)  # before the query: a write from now on voids it
        pending = self._pages.get(key)
        if pending is not None and pending[0] == stamp:
            return await asyncio.shield(pending[1])
        task = asyncio.ensure_future(loader())
        self._pages[key] = (stamp, task)
        try:
            page = await asyncio.shield(task)
        finally:
            if self._pages.get(key, (0, None))[1] is task:
                del self._pages[key]
        self.listing.put(key, page, stamp)
        return page

    def counts_changed(self, video_ids: list[str]) -> None:
        """View counts were written (a bulk update the commit hook does not see): void the
        local tier of this host for these videos (Redis entries keep theirs up to the TTL)."""
        self.generations.bump(video_ids)
        self.local.drop(video_ids)
        self.listing.clear()

    async def invalidate(self, video_ids: Iterable[str]) -> None:
        """A write to these videos committed: void them in every process of this host (the
        generation slots) and in this one's local tier at once, then in Redis (tombstones
        that block fills for ``settle_s``)."""
        ids = list(video_ids)
        self.generations.bump(ids)
        self.local.drop(ids)
        self.listing.clear()
        for video_id in ids:
            await self.cache.set(video_key(video_id), TOMBSTONE, self.settle_s)
