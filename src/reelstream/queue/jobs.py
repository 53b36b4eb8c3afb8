"""The job queue.

Jobs are leased rows (``reelstream.queue.lease``): claiming is one atomic ``UPDATE … WHERE id =
(SELECT … LIMIT 1) RETURNING`` inside a write transaction, so two workers never hold the same
job. Each claim increments ``attempts`` and draws a fresh ``lease_rev``; every later write of
the worker is fenced on (id, attempts), so after its lease expires and the reaper re-queues the
job, the old worker can change nothing. Retries wait as the ``RetryPolicy`` says.

Enqueueing (and re-queueing by the reaper) marks the session (``reelstream.queue.wakeups``):
the workers are woken after the transaction commits, never before, never after a rollback.

A job queued while a request (or another job) runs carries its id in the payload
(``request_id``, from ``reelstream.observability.context``): the worker binds it again while
running the job, so one id follows an upload from the edge into the transcode's log lines.

Callers pass their own session for the writes that must share a transaction with other state
(enqueue with the video's status change; complete with publishing).

Each attempt's end is counted in ``reelstream_jobs_finished_total{kind, outcome}`` (succeeded,
retried, failed) when its write is made: by ``complete``, ``fail`` and the reaper (a dead
worker's attempt), so the job failure rate alert sees every way an attempt ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db import Database
from reelstream.db.base import utcnow
from reelstream.db.models import Job
from reelstream.ids import new_rev
from reelstream.observability.context import REQUEST_ID_KEY, current_request_id
from reelstream.queue.kinds import HOUSEKEEPING_KINDS, TRANSCODE
from reelstream.queue.lease import Leases
from reelstream.queue.retry import RetryPolicy
from reelstream.queue.wakeups import job_ready

if TYPE_CHECKING:
    from reelstream.observability.metrics import Metrics


@dataclass(frozen=True)
class QueueBacklog:
    """Queued jobs of one kind (``JobQueue.backlog``)."""

    queued: int
    ready: int
    oldest_ready_s: float


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Lease:
    job_id: int
    video_id: str
    kind: str
    attempt: int
    rev: str
    owner: str
    expires_at: dt.datetime
    payload: dict[str, Any] = field(default_factory=dict)


Stages = list[dict[str, Any]]


@dataclass(frozen=True)
class FailOutcome:
    """What happened to a job after a failed attempt."""

    final: bool
    retry_at: dt.datetime | None


@dataclass(frozen=True)
class DeadJob:
    job_id: int
    video_id: str
    attempts: int
    last_error: str | None


class JobQueue:
    def __init__(
        self, db: Database, policy: RetryPolicy, lease_s: float, metrics: Metrics | None = None
    ) -> None:
        if policy.max_attempts is None:
            raise ValueError("a job queue needs a bounded max_attempts (the reaper relies on it)")
        self.db = db
        self.policy = policy
        self.lease_s = lease_s
        self.leases = Leases(Job, held="running", skip_locked=not db.is_sqlite)
        self.metrics = metrics

    def _finished(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.jobs_finished.labels(kind, outcome).inc()

    # -- producer side
    async def enqueue(
        self,
        session: AsyncSession,
        video_id: str,
        kind: str = TRANSCODE,
        payload: dict[str, Any] | None = None,
    ) -> Job:
        request_id = current_request_id()  # the request (or job) that queues this one
        if request_id is not None and REQUEST_ID_KEY not in (payload or {}):
            payload = {**(payload or {}), REQUEST_ID_KEY: request_id}
        job = Job(
            video_id=video_id, kind=kind, max_attempts=self.policy.max_attempts, payload=payload
        )
        session.add(job)
        await session.flush()
        job_ready(session, kind)
        return job

    # -- worker side
    async def claim(
        self,
        session: AsyncSession,
        owner: str,
        *,
        kind: str | None = None,
        video_id: str | None = None,
    ) -> Lease | None:
        """Claim the next due job (of ``kind``, of ``video_id``, when given)."""
        now = utcnow()
        expires = now + dt.timedelta(seconds=self.lease_s)
        rev = new_rev()
        due = and_(Job.state == "queued", Job.run_at <= now)
        if kind is not None:
            due = and_(due, Job.kind == kind)
        if video_id is not None:
            due = and_(due, Job.video_id == video_id)
        row = await self.leases.claim(
            session,
            due=due,
            order_by=(Job.run_at, Job.id),
            owner=owner,
            expires_at=expires,
            values={
                "lease_rev": rev,
                "heartbeat_at": now,
                "started_at": now,
                "progress": 0.0,
                "stages": None,
                "updated_at": now,
            },
            returning=(Job.video_id, Job.kind, Job.payload),
        )
        if row is None:
            return None
        return Lease(
            job_id=row.id,
            video_id=row.video_id,
            kind=row.kind,
            attempt=row.attempts,
            rev=rev,
            owner=owner,
            expires_at=expires,
            payload=dict(row.payload or {}),
        )

    async def heartbeat(
        self, lease: Lease, progress: float | None = None, stages: Stages | None = None
    ) -> bool:
        """Extend the lease (and record the attempt's progress and timeline stages). False
        means the lease is lost and the worker must stop."""
        now = utcnow()
        values: dict[str, object] = {
            "lease_expires_at": now + dt.timedelta(seconds=self.lease_s),
            "heartbeat_at": now,
        }
        if progress is not None:
            values["progress"] = max(0.0, min(1.0, progress))
        if stages is not None:
            values["stages"] = stages
        async with self.db.transaction() as s:
            return await self.leases.write(s, lease.job_id, lease.attempt, values)

    async def touch(
        self,
        session: AsyncSession,
        lease: Lease,
        stages: Stages,
        *,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Record the timeline (and ``payload``) in the caller's transaction, fenced on the
        lease (a state change the attempt makes before it ends, e.g. publishing a playable
        rev, queueing chunks). False: the lease was lost."""
        values: dict[str, object] = {"heartbeat_at": utcnow(), "stages": stages}
        if payload is not None:
            values["payload"] = payload
        return await self.leases.write(session, lease.job_id, lease.attempt, values)

    async def complete(
        self,
        session: AsyncSession,
        lease: Lease,
        stages: Stages | None = None,
        *,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Mark the job succeeded, fenced on the lease (``payload``: replaces the job's, e.g.
        with what it produced). False: the lease was lost."""
        now = utcnow()
        values: dict[str, object] = {
            "state": "succeeded",
            "progress": 1.0,
            "finished_at": now,
            "lease_expires_at": None,
        }
        if stages is not None:
            values["stages"] = stages
        if payload is not None:
            values["payload"] = payload
        written = await self.leases.write(session, lease.job_id, lease.attempt, values)
        if written:
            self._finished(lease.kind, "succeeded")
        return written

    async def fail(
        self,
        session: AsyncSession,
        lease: Lease,
        error: str,
        *,
        retryable: bool,
        stages: Stages | None = None,
    ) -> FailOutcome | None:
        """Record a failed attempt: re-queue with backoff, or fail for good. None: lease lost."""
        now = utcnow()
        retry_at = self.policy.retry_at(lease.attempt, now) if retryable else None
        final = retry_at is None
        values: dict[str, object] = {
            "state": "failed" if final else "queued",
            "last_error": error,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if stages is not None:
            values["stages"] = stages
        if final:
            values["finished_at"] = now
        else:
            values["run_at"] = retry_at
        if not await self.leases.write(session, lease.job_id, lease.attempt, values):
            return None
        self._finished(lease.kind, "failed" if final else "retried")
        return FailOutcome(final=final, retry_at=retry_at)

    async def release(self, session: AsyncSession, lease: Lease, reason: str) -> bool:
        """Hand a job back at once without spending its attempt budget: its worker is shutting
        down, nothing went wrong with the job. ``attempts`` stays as it is (it is the fencing
        token, so it never goes down); ``max_attempts`` grows by one instead. False: the lease
        was lost."""
        values = {
            "state": "queued",
            "run_at": utcnow(),
            "max_attempts": Job.max_attempts + 1,
            "last_error": reason,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        return await self.leases.write(session, lease.job_id, lease.attempt, values)

    async def wait(
        self,
        session: AsyncSession,
        lease: Lease,
        *,
        until: dt.datetime,
        payload: dict[str, Any],
        stages: Stages | None,
    ) -> bool:
        """Hand the job back to wait for other jobs (``wake`` brings it forward), keeping its
        timeline and recording ``payload``; like ``release``, the attempt is not spent.
        False: the lease was lost."""
        values = {
            "state": "queued",
            "run_at": until,
            "max_attempts": Job.max_attempts + 1,
            "payload": payload,
            "stages": stages,
            "last_error": None,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        return await self.leases.write(session, lease.job_id, lease.attempt, values)

    async def children_settled(
        self, session: AsyncSession, parent_id: int, video_id: str, kind: str
    ) -> list[Job] | None:
        """The jobs of ``kind`` whose payload names ``parent_id`` as their parent, once none
        is queued or running (None before). Locks the parent's row first, so of two children
        ending at once the later one sees the other's end."""
        await session.execute(select(Job.id).where(Job.id == parent_id).with_for_update())
        rows = await session.execute(
            select(Job).where(Job.video_id == video_id, Job.kind == kind).order_by(Job.id)
        )
        children = [j for j in rows.scalars() if (j.payload or {}).get("parent") == parent_id]
        if any(j.state in ("queued", "running") for j in children):
            return None
        return children

    async def wake(self, session: AsyncSession, job_id: int) -> None:
        """Make a waiting (queued) job due now."""
        await session.execute(
            update(Job).where(Job.id == job_id, Job.state == "queued").values(run_at=utcnow())
        )
        job_ready(session, TRANSCODE)

    async def cancel_children(self, session: AsyncSession, parent_id: int, video_id: str) -> None:
        """Cancel the queued jobs whose payload names ``parent_id`` (it failed for good)."""
        rows = await session.execute(
            select(Job).where(Job.video_id == video_id, Job.state == "queued")
        )
        for job in rows.scalars():
            if (job.payload or {}).get("parent") == parent_id:
                job.state = "cancelled"
                job.finished_at = utcnow()
        await session.flush()

    async def reap(self, session: AsyncSession) -> tuple[list[Lease], list[DeadJob]]:
        """Re-queue running jobs whose lease expired; fail those out of attempts.

        Returns the expired leases (so their partial outputs can be removed) and the jobs that
        are now dead (so their videos can be marked failed in the same transaction).
        """
        now = utcnow()
        rows = (await session.execute(select(Job).where(self.leases.expired(now)))).scalars().all()
        expired: list[Lease] = []
        dead: list[DeadJob] = []
        for job in rows:
            expired.append(
                Lease(
                    job_id=job.id,
                    video_id=job.video_id,
                    kind=job.kind,
                    attempt=job.attempts,
                    rev=job.lease_rev or "",
                    owner=job.lease_owner or "",
                    expires_at=job.lease_expires_at or now,
                    payload=dict(job.payload or {}),
                )
            )
            reason = f"worker {job.lease_owner} stopped responding during attempt {job.attempts}"
            job.last_error = reason
            job.lease_owner = None
            job.lease_expires_at = None
            if job.attempts >= job.max_attempts:
                job.state = "failed"
                job.finished_at = now
                dead.append(DeadJob(job.id, job.video_id, job.attempts, reason))
                self._finished(job.kind, "failed")
            else:
                self._finished(job.kind, "retried")
                job.state = "queued"
                job.run_at = now
                job_ready(session, job.kind)
        await session.flush()
        return expired, dead

    async def counts(self) -> dict[str, int]:
        async with self.db.read() as s:
            rows = (await s.execute(select(Job.state, func.count()).group_by(Job.state))).all()
        return {state: int(n) for state, n in rows}

    async def backlog(self) -> dict[str, QueueBacklog]:
        """Queued jobs by kind: how many, how many are ready now, and how long the oldest
        ready one has waited (since its ``run_at``): what a worker autoscaler reads."""
        now = utcnow()
        ready = Job.run_at <= now
        async with self.db.read(primary=True) as s:
            rows = (
                await s.execute(
                    select(
                        Job.kind,
                        func.count(),
                        func.count().filter(ready),
                        func.min(Job.run_at).filter(ready),
                    )
                    .where(Job.state == "queued")
                    .group_by(Job.kind)
                )
            ).all()
        out = {}
        for kind, queued, n_ready, oldest in rows:
            age = 0.0 if oldest is None else max(0.0, (now - _aware(oldest)).total_seconds())
            out[kind] = QueueBacklog(queued=int(queued), ready=int(n_ready), oldest_ready_s=age)
        return out

    async def jobs_of(self, session: AsyncSession, video_id: str) -> list[Job]:
        """Every job of a video, oldest first."""
        rows = await session.execute(select(Job).where(Job.video_id == video_id).order_by(Job.id))
        return list(rows.scalars().all())

    async def has_pending(self, session: AsyncSession, video_id: str) -> bool:
        """Whether a job of the video that reads its source (housekeeping aside) is queued or
        running."""
        row = await session.execute(
            select(Job.id)
            .where(
                Job.video_id == video_id,
                Job.kind.not_in(HOUSEKEEPING_KINDS),
                Job.state.in_(("queued", "running")),
            )
            .limit(1)
        )
        return row.first() is not None

    async def active_job(self, session: AsyncSession, video_id: str) -> Job | None:
        """The newest job of a video (housekeeping aside), if any."""
        return (
            await session.execute(
                select(Job)
                .where(Job.video_id == video_id, Job.kind.not_in(HOUSEKEEPING_KINDS))
                .order_by(Job.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
