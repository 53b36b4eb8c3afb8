"""Retrying what failed, without a new upload: a whole failed video, or some renditions.

* ``retry_video``: a ``failed`` video goes back to ``queued`` with a fresh ``transcode`` job (a
  new attempt budget) over the source it already has.
* ``retry_renditions``: a ``ready`` video whose last transcode published without some
  renditions (they failed on their own, see ``reelstream.processing.ladder_job``) gets a
  ``rendition`` job for them; it encodes just those, and publishes a new rev holding the
  renditions the video had plus the new ones. The video stays ``ready`` and playable meanwhile.
* ``retry_job``: what the admin page calls for a failed job of any kind.

Each is one transaction holding the video's row lock, and refuses (409 ``NothingToRetry``) while
any job of the video is queued or running (a scheduled ``cleanup`` aside), so two retries never
race each other or a transcode; ``retry_video`` also refuses a video that failed for a reason a
retry cannot fix (``reelstream.processing.timeline.permanent_failure``): it would fail again.
Workers are woken after the commit (``Services.notifier``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.models import Job
from reelstream.processing.errors import NothingToRetry, RenditionNotFound
from reelstream.processing.timeline import PERMANENT_HINT, effective_stages, permanent_failure
from reelstream.queue.jobs import JobQueue
from reelstream.queue.kinds import CLEANUP, POSTER, RENDITION, TRANSCODE
from reelstream.videos import repository as videos


async def _jobs(session: AsyncSession, queue: JobQueue, video_id: str) -> list[Job]:
    jobs = await queue.jobs_of(session, video_id)
    busy = [j for j in jobs if j.state in ("queued", "running") and j.kind != CLEANUP]
    if busy:
        raise NothingToRetry(
            f"the video already has a {busy[-1].kind} job {busy[-1].state}; "
            "wait for it to finish before retrying"
        )
    return jobs


async def retry_video(session: AsyncSession, queue: JobQueue, video_id: str) -> Job:
    """Queue a failed video for a new transcode of its stored source."""
    video = await videos.get_video(session, video_id, for_update=True)
    if video.status != "failed":
        raise NothingToRetry(f"only a failed video can be retried; this one is {video.status}")
    if permanent_failure(video, await _jobs(session, queue, video_id)):
        raise NothingToRetry(f"{video.error}. {PERMANENT_HINT}")
    job = await queue.enqueue(session, video_id, TRANSCODE)
    video.status = "queued"
    video.error = None
    await session.flush()
    return job


async def retry_renditions(
    session: AsyncSession, queue: JobQueue, video_id: str, names: list[str]
) -> Job:
    """Queue a new encode of the named failed renditions of a ready video."""
    video = await videos.get_video(session, video_id, for_update=True)
    if video.status != "ready":
        raise NothingToRetry(
            f"renditions can be retried on a ready video; this one is {video.status}"
        )
    jobs = await _jobs(session, queue, video_id)
    timeline, _ = effective_stages(jobs)
    known = {s.rendition for s in timeline.stages if s.name == "encode" and s.rendition}
    failed = set(timeline.failed_renditions())
    for name in names:
        if name not in known:
            raise RenditionNotFound(f"the video has no rendition {name!r}")
        if name not in failed:
            raise NothingToRetry(f"rendition {name!r} has not failed; there is nothing to retry")
    if not names:
        raise NothingToRetry("name at least one failed rendition to retry")
    return await queue.enqueue(
        session, video_id, RENDITION, payload={"renditions": sorted(set(names))}
    )


async def retry_job(session: AsyncSession, queue: JobQueue, job: Job) -> Job:
    """Retry a failed job, whatever its kind (the admin page's "retry" button)."""
    if job.state != "failed":
        raise NothingToRetry(f"job {job.id} is {job.state}; only failed jobs can be retried")
    if job.kind == TRANSCODE:
        return await retry_video(session, queue, job.video_id)
    if job.kind == RENDITION:
        names = list((job.payload or {}).get("renditions") or [])
        return await retry_renditions(session, queue, job.video_id, names)
    if job.kind == POSTER:
        await videos.get_video(session, job.video_id, for_update=True)
        await _jobs(session, queue, job.video_id)
        return await queue.enqueue(session, job.video_id, POSTER)
    raise NothingToRetry(f"jobs of kind {job.kind!r} cannot be retried")
