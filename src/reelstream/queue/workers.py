"""The workers registry: one row per worker process in ``workers``, kept by the pool.

A ``WorkerPool`` (``reelstream.worker``) registers itself when it starts (an upsert
of the row ``host:pid``), beats every ``settings.heartbeat_s`` (``heartbeat_at`` and
``running``, its busy slots) and marks itself stopped when it stops cleanly. The admin page and
``GET /api/v1/admin/workers`` read the rows with ``list_workers``.

A worker is *stale* when it has not stopped and its last heartbeat is older than
``STALE_BEATS`` heartbeats: it crashed, hangs, or cannot reach the database. Rows of workers
that stopped (or went silent) more than ``PRUNE_AFTER`` ago are pruned at registration and
about once an hour by every running pool.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db import Database
from reelstream.db.base import utcnow
from reelstream.db.models import Worker

STALE_BEATS = 3
PRUNE_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True)
class WorkerInfo:
    """A worker row as the admin views show it."""

    id: str
    host: str
    pid: int
    slots: int
    running: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    seconds_since_heartbeat: float
    stale: bool

    @property
    def state(self) -> str:
        """``running``, ``stale`` or ``stopped``."""
        if self.stopped_at is not None:
            return "stopped"
        return "stale" if self.stale else "running"


def split_id(worker_id: str) -> tuple[str, int]:
    """``"host:1234"`` -> ``("host", 1234)`` (pid 0 when the id has no numeric suffix)."""
    host, _, pid = worker_id.rpartition(":")
    return (host, int(pid)) if host and pid.isdigit() else (worker_id, 0)


async def register(db: Database, worker_id: str, *, slots: int) -> None:
    """Insert or reset the worker's row: started now, beating now, not stopped."""
    now = utcnow()
    host, pid = split_id(worker_id)
    async with db.transaction() as s:
        row = await s.get(Worker, worker_id, with_for_update=True)
        if row is None:
            s.add(
                Worker(
                    id=worker_id,
                    host=host,
                    pid=pid,
                    slots=slots,
                    running=0,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        else:
            row.host, row.pid, row.slots, row.running = host, pid, slots, 0
            row.started_at, row.heartbeat_at, row.stopped_at = now, now, None
        await prune(s, now)


async def beat(db: Database, worker_id: str, *, running: int) -> bool:
    """Renew the heartbeat and the busy-slot count. False: there is no row (pruned, or the
    registration never reached the database), so the caller should ``register`` again."""
    async with db.transaction() as s:
        res = await s.execute(
            update(Worker)
            .where(Worker.id == worker_id)
            .values(heartbeat_at=utcnow(), running=running)
        )
    return bool(res.rowcount)  # type: ignore[attr-defined]


async def mark_stopped(db: Database, worker_id: str) -> None:
    """Record a clean stop (no slot is busy any more)."""
    now = utcnow()
    async with db.transaction() as s:
        await s.execute(
            update(Worker)
            .where(Worker.id == worker_id)
            .values(stopped_at=now, heartbeat_at=now, running=0)
        )


async def prune(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Delete rows of workers that stopped, or last beat, more than ``PRUNE_AFTER`` ago."""
    cutoff = (now or utcnow()) - PRUNE_AFTER
    res = await session.execute(
        delete(Worker).where(or_(Worker.stopped_at < cutoff, Worker.heartbeat_at < cutoff))
    )
    return int(res.rowcount)  # type: ignore[attr-defined]


def stale_after_s(heartbeat_s: float) -> float:
    """How old a running worker's heartbeat may get before it counts as stale."""
    return STALE_BEATS * heartbeat_s


async def list_workers(
    session: AsyncSession, heartbeat_s: float, now: dt.datetime | None = None
) -> list[WorkerInfo]:
    """Every registered worker: running ones first (by host, pid), then the stopped ones."""
    now = now or utcnow()
    rows = (await session.execute(select(Worker))).scalars().all()
    limit = stale_after_s(heartbeat_s)
    out = []
    for w in rows:
        age = max(0.0, (now - w.heartbeat_at).total_seconds())
        out.append(
            WorkerInfo(
                id=w.id,
                host=w.host,
                pid=w.pid,
                slots=w.slots,
                running=w.running,
                started_at=w.started_at,
                heartbeat_at=w.heartbeat_at,
                stopped_at=w.stopped_at,
                seconds_since_heartbeat=round(age, 1),
                stale=w.stopped_at is None and age > limit,
            )
        )
    return sorted(out, key=lambda w: (w.stopped_at is not None, w.host, w.pid, w.id))
