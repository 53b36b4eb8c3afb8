"""QoE reports kept in memory and written to ``qoe_sessions`` in batches.

Why batches and not a write per beacon: a player reports on start, every 30 s while playing and
when the page goes away, so 10,000 viewers send ~330 beacons/s; each would be a transaction on
the primary. As with view counts (``reelstream.views.aggregator``), a process keeps the newest
merged report per (video, session) and writes them every ``flush_interval_s``, as soon as
``flush_batch`` sessions are pending, and on shutdown: one transaction per flush, one row per
session however many beacons it sent in between. A crash loses at most one interval of
reports (the player's next cumulative report repairs a living session).

The flush reads the stored rows of its sessions (``FOR UPDATE`` on PostgreSQL: another api
instance flushing the same session waits), merges, writes, and after the commit adds the
difference to the metrics (``reelstream.qoe.metrics.delta``): the stored row is what was
already counted, so repeated and out-of-order beacons, and a session whose beacons reach
several instances, count once. (Two instances inserting the *same new* session in the same
instant may both count it: each saw no row. The window is one flush, the cost one session.)

The flush also deletes sessions not updated for ``retention_days`` (at most once an hour).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from reelstream.db.base import utcnow
from reelstream.db.database import Database
from reelstream.db.errors import DatabaseUnavailable
from reelstream.db.models import QoeSession, Video
from reelstream.periodic import PeriodicFlush
from reelstream.qoe.metrics import Delta, PlayerMetrics, delta
from reelstream.qoe.report import Report, merge

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (video id, session id)
CHUNK = 500  # sessions per IN (...) list
PRUNE_EVERY_S = 3600.0
FIELDS = tuple(f for f in Report.__dataclass_fields__)


def row_report(row: QoeSession) -> Report:
    return Report(**{name: getattr(row, name) for name in FIELDS})


class QoeCollector:
    def __init__(
        self,
        db: Database,
        metrics: PlayerMetrics,
        *,
        flush_interval_s: float = 10.0,
        flush_batch: int = 500,
        retention_days: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.flush_interval_s = flush_interval_s
        self.flush_batch = flush_batch
        self.retention = dt.timedelta(days=retention_days)
        self._clock = clock
        self._pending: dict[Key, Report] = {}
        self._pruned_at: float | None = None
        self._lock = asyncio.Lock()
        self._periodic = PeriodicFlush(self.flush, flush_interval_s, name="qoe-flush")

    async def record(self, video_id: str, session_id: str, report: Report) -> None:
        """Keep ``report`` (merged with what is pending for the session) for the next flush."""
        key = (video_id, session_id)
        self._pending[key] = merge(self._pending.get(key), report)
        if len(self._pending) >= self.flush_batch:
            await self.flush()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Write what is pending in one transaction; on an outage keep it for the next."""
        async with self._lock:
            pending, self._pending = self._pending, {}
            if pending:
                try:
                    deltas = await self._write(pending)
                except DatabaseUnavailable as exc:
                    log.warning("QoE reports not written yet (%s); retrying at the next flush", exc)
                    for key, report in pending.items():
                        self._pending[key] = merge(report, self._pending.get(key, report))
                    return
                except Exception:  # anything else would fail again: drop the batch
                    log.exception("dropping a batch of %d QoE sessions", len(pending))
                    return
                for d in deltas:  # after the commit: what the database now holds
                    self.metrics.add(d)
            await self._prune()

    async def _write(self, pending: dict[Key, Report]) -> list[Delta]:
        keys = sorted(pending)  # one order in every process: no lock-order deadlock
        deltas: list[Delta] = []
        now = utcnow()
        async with self.db.transaction() as s:
            stored: dict[Key, Report] = {}
            live: set[str] = set()
            for i in range(0, len(keys), CHUNK):
                part = keys[i : i + CHUNK]
                rows = await s.execute(
                    sa.select(QoeSession)
                    .where(sa.tuple_(QoeSession.video_id, QoeSession.session_id).in_(part))
                    .with_for_update()
                )
                for row in rows.scalars():
                    stored[(row.video_id, row.session_id)] = row_report(row)
                ids = {vid for vid, _ in part}
                live |= set(
                    (await s.execute(sa.select(Video.id).where(Video.id.in_(ids)))).scalars()
                )
            insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
            for key in keys:
                vid, sid = key
                if vid not in live:  # deleted since the beacon
                    continue
                before = stored.get(key)
                merged = merge(before, pending[key])
                values = {name: getattr(merged, name) for name in FIELDS}
                stmt = insert(QoeSession).values(
                    video_id=vid, session_id=sid, created_at=now, updated_at=now, **values
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=["video_id", "session_id"],
                    set_={**values, "updated_at": now},
                )
                await s.execute(stmt)
                deltas.append(delta(before, merged))
        return deltas

    async def _prune(self) -> None:
        now = self._clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        try:
            async with self.db.transaction() as s:
                await s.execute(
                    sa.delete(QoeSession).where(QoeSession.updated_at < utcnow() - self.retention)
                )
        except Exception as exc:  # the next hour tries again
            log.warning("old QoE sessions not deleted: %s", exc)

    # -- background task (as reelstream.views.aggregator)

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        """Stop the periodic flush (a flush in progress finishes) and write what is pending."""
        await self._periodic.stop()
