"""A video's processing timeline, and retries without a new upload.

* ``GET /api/v1/videos/{id}/timeline`` — the stages (upload, probe, one encode per rendition,
  package, publish) with progress, ETA and failure reasons (``reelstream.processing.timeline``);
  whoever may view the video may see it. ``retry`` says what the caller may retry now.
* ``POST /api/v1/videos/{id}/retry`` — a failed video, transcoded again from its stored source.
* ``POST /api/v1/videos/{id}/renditions/{name}/retry`` — failed renditions of a ready video,
  encoded again and added to it (``reelstream.processing.retry``).

Retries need the ``retry`` action (owner or admin; ``reelstream.auth.policy``) and answer 202
with the new timeline, 409 when there is nothing to retry (with the reason).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.auth import policy
from reelstream.auth.deps import CurrentUser, Principal, WriteUser, authorize
from reelstream.db.models import Upload, Video
from reelstream.http.deps import ServicesDep
from reelstream.http.schemas import ErrorOut
from reelstream.processing import retry
from reelstream.processing.timeline import Composed, compose
from reelstream.videos import repository as repo
from reelstream.videos.schemas import (
    RetryOptionsOut,
    StageOut,
    TimelineJobOut,
    TimelineOut,
)

if TYPE_CHECKING:
    from reelstream.services import Services

router = APIRouter(prefix="/api/v1", tags=["processing"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such video (or rendition)"},
    409: {"model": ErrorOut, "description": "Nothing to retry; says why"},
}


def may_retry(user: Principal | None, video: Video) -> bool:
    if user is None or not user.has_scope(policy.SCOPE["retry"]):
        return False
    role = policy.role_of(user_id=user.id, is_admin=user.acts_as_admin, owner_id=video.owner_id)
    return policy.allowed("retry", role, video.visibility)


def timeline_out(video: Video, composed: Composed, user: Principal | None) -> TimelineOut:
    allowed = may_retry(user, video)
    job = composed.job
    return TimelineOut(
        video_id=video.id,
        status=composed.status,
        error=composed.error,
        progress=composed.progress,
        eta_s=composed.eta_s,
        stages=[StageOut.model_validate(stage.to_json()) for stage in composed.stages],
        job=TimelineJobOut.model_validate(asdict(job)) if job is not None else None,
        retry=RetryOptionsOut(
            video=allowed and composed.can_retry_video,
            renditions=composed.retry_renditions if allowed else [],
        ),
    )


async def load_timeline(session: AsyncSession, services: Services, video: Video) -> Composed:
    jobs = await services.queue.jobs_of(session, video.id)
    upload = (
        (
            await session.execute(
                select(Upload).where(Upload.video_id == video.id).order_by(Upload.created_at.desc())
            )
        )
        .scalars()
        .first()
    )
    return compose(video, jobs, upload)


@router.get("/videos/{video_id}/timeline", response_model=TimelineOut, responses=_RESPONSES)
async def get_timeline(video_id: str, services: ServicesDep, user: CurrentUser) -> TimelineOut:
    """The video's processing, stage by stage: state, progress, ETA, failure reasons."""
    async with services.db.read(primary=True) as s:
        video = await repo.get_video(s, video_id)
        authorize(user, "view", owner_id=video.owner_id, visibility=video.visibility)
        composed = await load_timeline(s, services, video)
    return timeline_out(video, composed, user)


@router.post(
    "/videos/{video_id}/retry", status_code=202, response_model=TimelineOut, responses=_RESPONSES
)
async def retry_video(video_id: str, services: ServicesDep, user: WriteUser) -> TimelineOut:
    """Transcode a failed video again from the file already uploaded (owner or admin)."""
    async with services.db.transaction() as s:
        video = await repo.get_video(s, video_id, for_update=True)
        authorize(user, "retry", owner_id=video.owner_id, visibility=video.visibility)
        await retry.retry_video(s, services.queue, video_id)
        composed = await load_timeline(s, services, video)
    return timeline_out(video, composed, user)


@router.post(
    "/videos/{video_id}/renditions/{name}/retry",
    status_code=202,
    response_model=TimelineOut,
    responses=_RESPONSES,
)
async def retry_rendition(
    video_id: str, name: str, services: ServicesDep, user: WriteUser
) -> TimelineOut:
    """Encode one failed rendition of a ready video again and add it (owner or admin); the
    video keeps playing the renditions it has meanwhile."""
    async with services.db.transaction() as s:
        video = await repo.get_video(s, video_id, for_update=True)
        authorize(user, "retry", owner_id=video.owner_id, visibility=video.visibility)
        await retry.retry_renditions(s, services.queue, video_id, [name])
        composed = await load_timeline(s, services, video)
    return timeline_out(video, composed, user)
