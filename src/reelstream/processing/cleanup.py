"""The ``cleanup`` job: remove the rev folders of a video that nobody needs any more.

Two payloads (rows outlive code: both stay readable):

``{"rev": R}``      a retired rev. When a publish replaces the video's published rev, viewers
                    may be in the middle of the old one (their player loaded its playlists), so
                    the publish transaction enqueues this job due when every playback token
                    that could have led to it has expired (``grace_s``). It deletes the rev's
                    folder unless it is published again by then.
``{"sweep": true}`` the orphans of a video: every rev folder that is neither published, nor
                    written by a running attempt, nor a retired rev still in its grace period
                    (a pending ``{"rev": R}`` job owns that one). Due at once.
``{"source": K}``   a superseded source (its video's source was replaced, or a replacing
                    upload's transcode failed for good): deleted unless it is the video's
                    source again or a queued or running job still names it.

Why a job in the same transaction (a transactional outbox) and not a delete after the commit:
a worker killed between the commit and the delete would leave folders that no later step
names. The crash windows it closes, each by enqueueing the job in the transaction that makes
the folders garbage, when the folders seen beforehand (``stored_revs``) include any that will
be garbage:

* a publish (``pipeline.Attempt.finish``): revs of earlier attempts of the job whose own
  clean-up was lost (a worker SIGKILLed mid-encode, whose reaper then died before deleting),
  the rev the publish retires (``{"rev": R}`` after the grace), and a superseded attempt's own
  rev;
* a job failing for good (``Attempt.fail``, and the reaper failing a job whose worker died too
  often): the failed video's partial revs; no publish would ever sweep them.

A failed attempt that will be retried, a lease lost, a worker handing its job back and the
reaper re-queueing a job still delete their rev at once (fast, best effort): whatever that
misses is seen by the job's terminal transition above, which every job reaches.

Why not only a periodic sweep of every video's rev folders: it has to list the whole bucket
and to guess an age after which a folder is surely dead; an attempt runs for as long as its
lease is renewed, so no age bound is safe without asking the database anyway. The one window
left: a worker frozen past its lease (SIGSTOP) that resumes, writes into its dead rev after
the terminal sweep and is killed before its next heartbeat sees the lease gone (it deletes
its rev then). Deleting the video removes every folder of it.

The sweep is safe against a rev being written meanwhile: it lists storage first, then reads
the database (primary) in the order a rev moves through its life — held by a running job,
published, retired with a pending ``{"rev": R}`` job — so a rev that moves on between two
reads is seen by the later one; a rev first written after the listing is not in it. A
storage error fails the attempt (retried later). A cleanup never changes the video's status
and never blocks a retry.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.config import Settings
from reelstream.db.base import utcnow
from reelstream.db.models import Job
from reelstream.processing.runner import LeasedAttempt
from reelstream.queue.jobs import JobQueue
from reelstream.queue.kinds import CHUNK, CLEANUP, TRANSCODE
from reelstream.storage.base import BlobStore
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import rev_of, rev_prefix, revs_prefix, video_prefix
from reelstream.videos import repository as videos
from reelstream.videos.errors import VideoNotFound

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

SWEEP = "sweep"
SOURCE = "source"


def grace_s(settings: Settings) -> float:
    """How long a retired rev stays: the longest a playback token lives."""
    return float(max(settings.playback_ttl_s, settings.public_playback_ttl_s or 0))


async def schedule_cleanup(
    session: AsyncSession, queue: JobQueue, settings: Settings, video_id: str, rev: str
) -> None:
    """Enqueue the removal of ``rev``, due after the grace period (in the caller's
    transaction: the publish that retires the rev)."""
    job = await queue.enqueue(session, video_id, CLEANUP, payload={"rev": rev})
    job.run_at = utcnow() + dt.timedelta(seconds=grace_s(settings))
    await session.flush()


async def schedule_sweep(session: AsyncSession, queue: JobQueue, video_id: str) -> None:
    """Enqueue the removal of the video's orphan revs, due now (in the caller's transaction:
    the one that makes them orphans)."""
    await queue.enqueue(session, video_id, CLEANUP, payload={SWEEP: True})


async def schedule_source_removal(
    session: AsyncSession, queue: JobQueue, video_id: str, key: str, *, after_s: float = 0.0
) -> None:
    """Enqueue the removal of the superseded source ``key`` (in the caller's transaction: the
    one that supersedes it), due after ``after_s`` (a job may still be reading it)."""
    job = await queue.enqueue(session, video_id, CLEANUP, payload={SOURCE: key})
    job.run_at = utcnow() + dt.timedelta(seconds=after_s)
    await session.flush()


async def remove_source(services: Services, video_id: str, key: str) -> str:
    """Delete a superseded source unless something still needs it (see above)."""
    async with services.db.read(primary=True) as s:
        try:
            current = (await videos.get_video(s, video_id)).source_key
        except VideoNotFound:
            return "kept"  # deleting the video removes its files
        pending = await s.execute(
            select(Job.payload).where(
                Job.video_id == video_id,
                Job.kind.in_((TRANSCODE, CHUNK)),
                Job.state.in_(("queued", "running")),
            )
        )
        named = {str(p.get(SOURCE)) for p in pending.scalars().all() if p and p.get(SOURCE)}
    if key == current or key in named or not key.startswith(f"{video_prefix(video_id)}/source"):
        return "kept"
    await services.store.delete(key)
    log.info("video %s: removed superseded source %s", video_id, key)
    return "removed"


async def stored_revs(store: BlobStore, video_id: str) -> set[str] | None:
    """The revs with a folder in storage now; ``None`` when storage cannot say (the caller
    then schedules a sweep anyway)."""
    try:
        blobs = await store.list(revs_prefix(video_id))
    except StorageError as exc:
        log.warning("video %s: cannot list its revs: %s", video_id, exc)
        return None
    return {rev for blob in blobs if (rev := rev_of(video_id, blob.key)) is not None}


def needs_sweep(stored: set[str] | None, *, keep: set[str | None]) -> bool:
    """Whether revs seen in storage (``None``: unknown) include any besides ``keep``."""
    return stored is None or bool(stored - {k for k in keep if k})


async def sweep_revs(services: Services, video_id: str) -> int:
    """Delete the video's orphan revs (see the module docstring); returns how many."""
    blobs = await services.store.list(revs_prefix(video_id))
    stored = {rev for blob in blobs if (rev := rev_of(video_id, blob.key)) is not None}
    if not stored:
        return 0
    keep: set[str] = set()
    async with services.db.read(primary=True) as s:
        # one statement per stage of a rev's life, in that order (see the module docstring)
        running = await s.execute(
            select(Job.lease_rev).where(Job.video_id == video_id, Job.state == "running")
        )
        keep |= {rev for rev in running.scalars().all() if rev}
        try:
            published = (await videos.get_video(s, video_id)).published_rev
        except VideoNotFound:
            return 0  # deleting the video removes its folders
        if published:
            keep.add(published)
        retiring = await s.execute(
            select(Job.payload).where(
                Job.video_id == video_id,
                Job.kind == CLEANUP,
                Job.state.in_(("queued", "running")),
            )
        )
        keep |= {str(p["rev"]) for p in retiring.scalars().all() if p and p.get("rev")}
        # the rev a chunked transcode's parts are written into, while any of them is pending
        parts = await s.execute(
            select(Job.payload).where(
                Job.video_id == video_id,
                Job.kind.in_((TRANSCODE, CHUNK)),
                Job.state.in_(("queued", "running")),
            )
        )
        keep |= {str(p["rev"]) for p in parts.scalars().all() if p and p.get("rev")}
    orphans = sorted(stored - keep)
    for rev in orphans:
        removed = await services.store.delete_prefix(rev_prefix(video_id, rev))
        log.info("video %s: removed orphan rev %s (%d files)", video_id, rev, removed)
    return len(orphans)


class CleanupAttempt(LeasedAttempt[str]):
    """Remove the retired rev in the payload unless it is published again, or sweep the
    video's orphan revs."""

    async def produce(self) -> str:
        lease, services = self.lease, self.services
        if lease.payload.get(SWEEP):
            outcome = "swept" if await sweep_revs(services, lease.video_id) else "kept"
        elif lease.payload.get(SOURCE):
            outcome = await remove_source(services, lease.video_id, str(lease.payload[SOURCE]))
        else:
            outcome = await self._retire(str(lease.payload.get("rev") or ""))
        async with services.db.transaction() as s:
            await services.queue.complete(s, lease)
        return outcome

    async def _retire(self, rev: str) -> str:
        video_id = self.lease.video_id
        try:
            async with self.services.db.read(primary=True) as s:
                published = (await videos.get_video(s, video_id)).published_rev
        except VideoNotFound:
            published = None  # deleting the video removed its files already
        if not rev or rev == published:
            return "kept"
        removed = await self.services.store.delete_prefix(rev_prefix(video_id, rev))
        log.info("video %s: removed retired rev %s (%d files)", video_id, rev, removed)
        return "removed"
