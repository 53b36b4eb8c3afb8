"""The ``cleanup`` job: remove a rev that is no longer published, once nobody can be playing it.

When a rendition job publishes a new rev of a ready video, viewers may be in the middle of the
old one (their player loaded its playlists). The old rev is therefore not removed at once: the
publish transaction enqueues a ``cleanup`` job due when every playback token that could have
led to it has expired (``grace_s``). The job deletes the rev's folder unless it is published
again by then (a storage error fails the attempt, retried later). A cleanup never changes the
video's status and never blocks a retry.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.config import Settings
from reelstream.db.base import utcnow
from reelstream.processing.runner import LeasedAttempt
from reelstream.queue.jobs import JobQueue
from reelstream.queue.kinds import CLEANUP
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos
from reelstream.videos.errors import VideoNotFound

log = logging.getLogger(__name__)


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


class CleanupAttempt(LeasedAttempt[str]):
    """Remove the retired rev in the payload unless it is published again."""

    async def produce(self) -> str:
        lease, services = self.lease, self.services
        rev = str(lease.payload.get("rev") or "")
        try:
            async with services.db.read(primary=True) as s:
                published = (await videos.get_video(s, lease.video_id)).published_rev
        except VideoNotFound:
            published = None  # deleting the video removed its files already
        outcome = "kept"
        if rev and rev != published:
            removed = await services.store.delete_prefix(rev_prefix(lease.video_id, rev))
            log.info("video %s: removed retired rev %s (%d files)", lease.video_id, rev, removed)
            outcome = "removed"
        async with services.db.transaction() as s:
            await services.queue.complete(s, lease)
        return outcome
