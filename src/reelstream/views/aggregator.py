"""In-memory aggregation of view counts and resume positions, written to the database in
batches.

Nothing is written per beacon. Each process keeps:

* ``pending views``: video id -> views counted since the last flush;
* ``pending positions``: (user id, video id) -> the newest position reported (coalesced);
* ``seen``: which (video, client address) pairs were counted within ``dedupe_window_s``
  (``reelstream.views.seen``), so a client counts once per window whatever ``session`` ids
  it sends; with a shared backend (Redis) every api instance consults it too.

A flush writes one ``UPDATE videos SET view_count = view_count + :n`` per video and one upsert
per (user, video), all in one transaction. It runs every ``flush_interval_s`` (the background
task of ``start``), as soon as ``flush_batch`` views are pending (in the request that reaches
the threshold), and on ``stop`` (shutdown). A crash loses what arrived since the last flush: at
most one interval or one batch. When the database cannot be reached, the batch is merged back
and retried at the next flush.

The counts are eventually consistent: ``videos.view_count`` lags by at most one flush (plus the
metadata cache TTL for readers of ``GET /api/v1/videos/{id}``). Deduplication is shared when
Redis is configured; without it (or while it is down) it is per process, so behind a load
balancer a client's beacons spread over instances may count once per instance.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from reelstream.db.base import utcnow
from reelstream.db.database import Database
from reelstream.db.errors import DatabaseUnavailable
from reelstream.db.models import User, Video, WatchPosition
from reelstream.periodic import PeriodicFlush
from reelstream.views.seen import MemorySeen, Seen, seen_key

log = logging.getLogger(__name__)


class ViewAggregator:
    def __init__(
        self,
        db: Database,
        *,
        flush_interval_s: float = 10.0,
        flush_batch: int = 500,
        dedupe_window_s: float = 1800.0,
        shared: Seen | None = None,
        clock: Callable[[], float] = time.monotonic,
        counted: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.db = db
        self._counted = counted  # after a flush wrote view counts: these videos changed
        self.flush_interval_s = flush_interval_s
        self.flush_batch = flush_batch
        self.dedupe_window_s = dedupe_window_s
        self._clock = clock
        self._views: dict[str, int] = {}
        self._pending_views = 0
        self._positions: dict[tuple[str, str], tuple[float, dt.datetime]] = {}
        self._seen = MemorySeen(dedupe_window_s, clock=clock)
        self._shared = shared
        self._lock = asyncio.Lock()
        self._periodic = PeriodicFlush(self.flush, flush_interval_s, name="views-flush")

    # -- beacons

    async def record_view(self, video_id: str, client: str) -> bool:
        """Count one view of ``video_id`` by ``client`` (its address as the server sees it);
        False when that client was already counted for it within the window, here or (with
        a shared backend) on any instance."""
        key = seen_key(video_id, client)
        if not await self._seen.first(key):
            return False
        if self._shared is not None and await self._shared.first(key) is False:
            return False  # counted by another instance (None: the shared store is down)
        self._views[video_id] = self._views.get(video_id, 0) + 1
        self._pending_views += 1
        if self._pending_views >= self.flush_batch:
            await self.flush()
        return True

    def record_position(self, user_id: str, video_id: str, position_s: float) -> None:
        """Remember where ``user_id`` is in ``video_id``; written at the next flush."""
        self._positions[(user_id, video_id)] = (position_s, utcnow())

    async def position(self, user_id: str, video_id: str) -> float | None:
        """The resume position: the pending one of this process, else the stored one (read
        like other metadata, from the replica when there is one). None when the database
        cannot answer: a resume point is a nicety, never a reason to fail a read."""
        pending = self._positions.get((user_id, video_id))
        if pending is not None:
            return pending[0]
        try:
            async with self.db.read() as s:
                stored = await s.execute(
                    select(WatchPosition.position_s).where(
                        WatchPosition.user_id == user_id, WatchPosition.video_id == video_id
                    )
                )
                return stored.scalar_one_or_none()
        except DatabaseUnavailable as exc:
            log.warning("no resume position for now: %s", exc)
            return None

    @property
    def pending_views(self) -> int:
        return self._pending_views

    # -- flushing

    async def flush(self) -> None:
        """Write what is pending (one transaction); on failure keep it for the next flush."""
        async with self._lock:
            views, self._views, self._pending_views = self._views, {}, 0
            positions, self._positions = self._positions, {}
            self._seen.forget_old()
            if not views and not positions:
                return
            try:
                await self._write(views, positions)
                if views and self._counted is not None:
                    self._counted(sorted(views))
            except DatabaseUnavailable as exc:  # an outage: retry at the next flush
                log.warning("views not written yet (%s); retrying at the next flush", exc)
                for vid, n in views.items():
                    self._views[vid] = self._views.get(vid, 0) + n
                    self._pending_views += n
                for key, value in positions.items():
                    self._positions.setdefault(key, value)
            except Exception:  # anything else would fail again: drop the batch, keep serving
                log.exception(
                    "dropping a batch of %d views and %d positions",
                    sum(views.values()),
                    len(positions),
                )

    async def _write(
        self, views: dict[str, int], positions: dict[tuple[str, str], tuple[float, dt.datetime]]
    ) -> None:
        async with self.db.transaction() as s:
            for vid in sorted(views):  # one order in every process: no lock-order deadlock
                await s.execute(
                    update(Video)
                    .where(Video.id == vid)
                    .values(view_count=Video.view_count + views[vid], updated_at=Video.updated_at)
                    .execution_options(synchronize_session=False)
                )
            if not positions:
                return
            # rows of videos or users deleted since the beacon would violate a foreign key
            video_ids = {vid for _, vid in positions}
            user_ids = {uid for uid, _ in positions}
            live_videos = set(
                (await s.execute(select(Video.id).where(Video.id.in_(video_ids)))).scalars()
            )
            live_users = set(
                (await s.execute(select(User.id).where(User.id.in_(user_ids)))).scalars()
            )
            rows: list[dict[str, Any]] = [
                {"user_id": uid, "video_id": vid, "position_s": pos, "updated_at": when}
                for (uid, vid), (pos, when) in sorted(positions.items())
                if uid in live_users and vid in live_videos
            ]
            if not rows:
                return
            insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
            stmt = insert(WatchPosition)
            stmt = stmt.on_conflict_do_update(
                index_elements=["user_id", "video_id"],
                set_={
                    "position_s": stmt.excluded.position_s,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
            for row in rows:
                await s.execute(stmt, row)

    # -- background task

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        """Stop the periodic flush and write what is pending (``reelstream.periodic``)."""
        await self._periodic.stop()
        if self._shared is not None:
            await self._shared.close()
