"""A video's processing timeline, and retries without a new upload.

* ``GET /api/v1/videos/{id}/timeline`` — the stages (upload, probe, one encode per rendition,
  package, publish) with progress, ETA and failure reasons (``reelstream.processing.timeline``);
  only its owner and admins (the ``inspect`` action) may see it. ``retry`` says what the
  caller may retry now.
* ``POST /api/v1/videos/{id}/retry`` — a failed video, transcoded again from its stored source.
* ``POST /api/v1/videos/{id}/renditions/{name}/retry`` — failed renditions of a ready video,
  encoded again and added to it (``reelstream.processing.retry``).

Retries need the ``retry`` action (owner or admin; ``reelstream.auth.policy``) and answer 202
with the new timeline, 409 when there is nothing to retry (with the reason).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from reelstream.auth.deps import CurrentUser, WriteUser
from reelstream.http.deps import ServicesDep
from reelstream.http.schemas import ErrorOut
from reelstream.processing.schemas import (
    RetryOptionsOut,
    StageOut,
    TimelineJobOut,
    TimelineOut,
)
from reelstream.processing.service import ProcessingService, TimelineView

router = APIRouter(prefix="/api/v1", tags=["processing"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such video (or rendition)"},
    409: {"model": ErrorOut, "description": "Nothing to retry; says why"},
}


def timeline_out(view: TimelineView) -> TimelineOut:
    composed, job = view.composed, view.composed.job
    return TimelineOut(
        video_id=view.video.id,
        status=composed.status,
        error=composed.error,
        progress=composed.progress,
        eta_s=composed.eta_s,
        stages=[StageOut.model_validate(stage.to_json()) for stage in composed.stages],
        job=TimelineJobOut.model_validate(asdict(job)) if job is not None else None,
        retryable=composed.retryable,
        retry=RetryOptionsOut(
            video=view.may_retry and composed.can_retry_video,
            renditions=composed.retry_renditions if view.may_retry else [],
        ),
    )


@router.get("/videos/{video_id}/timeline", response_model=TimelineOut, responses=_RESPONSES)
async def get_timeline(video_id: str, services: ServicesDep, user: CurrentUser) -> TimelineOut:
    """The video's processing, stage by stage: state, progress, ETA, failure reasons (owner
    or admin)."""
    return timeline_out(await ProcessingService(services).timeline(video_id, user))


@router.post(
    "/videos/{video_id}/retry", status_code=202, response_model=TimelineOut, responses=_RESPONSES
)
async def retry_video(video_id: str, services: ServicesDep, user: WriteUser) -> TimelineOut:
    """Transcode a failed video again from the file already uploaded (owner or admin)."""
    return timeline_out(await ProcessingService(services).retry_video(video_id, user))


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
    return timeline_out(await ProcessingService(services).retry_rendition(video_id, name, user))
