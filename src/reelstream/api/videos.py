"""The video API: list, read, edit, delete videos and hand out signed playback URLs.

Visibility and who may do what: the table in ``reelstream.auth.policy`` (and docs/accounts.md).
Only ``public`` videos are listed; ``?owner=me`` lists the caller's own videos of every
visibility, ``?owner=<username>`` that user's public ones. ``unlisted`` videos are reachable
by id; ``private`` ones by their owner and admins.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from reelstream import webhooks
from reelstream.api.deps import ServicesDep
from reelstream.api.presenters import MediaLinks, playback_out, video_out, view_out
from reelstream.api.schemas import (
    ErrorOut,
    PlaybackOut,
    VideoOut,
    VideoPage,
    VideoPatch,
    VideoStatus,
)
from reelstream.auth.accounts import find_user
from reelstream.auth.deps import CurrentUser, WriteUser, authorize
from reelstream.auth.errors import NotAuthenticated
from reelstream.cache.videos import VideoView
from reelstream.db import videos as repo
from reelstream.db.models import Job, Upload, Video
from reelstream.errors import ReelstreamError
from reelstream.ingest.staging.local import StagingArea
from reelstream.queue.kinds import HOUSEKEEPING_KINDS
from reelstream.services import Services
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import video_prefix
from reelstream.views.aggregator import ViewAggregator

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["videos"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such video"}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "Invalid parameters"}
}


def _links(services: Services, request: Request, visibility: str = "private") -> MediaLinks:
    return MediaLinks.create(
        public_base_url=services.settings.public_base_url,
        request_base_url=str(request.base_url),
        signer=services.signer,
        ttl_s=services.settings.playback_ttl_for(visibility),
    )


async def _newest_jobs(session: AsyncSession, video_ids: list[str]) -> dict[str, Job]:
    """The newest job of each video (one query for a whole page)."""
    if not video_ids:
        return {}
    rows = await session.execute(
        select(Job)
        .where(Job.video_id.in_(video_ids), Job.kind.not_in(HOUSEKEEPING_KINDS))
        .order_by(Job.id.desc())
    )
    newest: dict[str, Job] = {}
    for job in rows.scalars():
        newest.setdefault(job.video_id, job)
    return newest


@router.get(
    "/videos",
    response_model=VideoPage,
    responses={400: {"model": ErrorOut, "description": "Invalid cursor"}, **_INVALID},
)
async def list_videos(
    services: ServicesDep,
    request: Request,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=300,
            description="next_cursor of the previous page, with the same filters",
        ),
    ] = None,
    status: Annotated[VideoStatus | None, Query(description="Only videos in this state")] = None,
    owner: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="'me': the caller's own videos, every visibility (needs sign-in); "
            "a username: that user's public videos",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=300, description="Titles containing this text (case-insensitive)"),
    ] = None,
) -> VideoPage:
    """Public videos (or with ``owner=me`` the caller's own), newest first, one page at a time.

    Pass the ``next_cursor`` of a page as ``cursor`` to get the next one; it is null on the last
    page. A cursor is valid only with the filters (``status``, ``owner``, ``q``) of the listing
    that issued it; with others it is a 400. Unlisted and private videos are listed only to
    their owner, with ``owner=me``.
    """
    if owner == "me" and user is None:
        raise NotAuthenticated("owner=me lists your own videos: sign in or send a token")
    q = (q or "").strip() or None
    async with services.db.read(primary=owner == "me") as s:
        page: list[Video] = []
        nxt = None
        if owner == "me" and user is not None:
            page, nxt = await repo.list_videos(
                s, limit=limit, cursor=cursor, status=status, owner_id=user.id, q=q
            )
        elif owner is not None:
            found = await find_user(s, owner)
            if found is not None:
                page, nxt = await repo.list_videos(
                    s,
                    limit=limit,
                    cursor=cursor,
                    status=status,
                    visibility="public",
                    owner_id=found.id,
                    q=q,
                )
        else:
            page, nxt = await repo.list_videos(
                s, limit=limit, cursor=cursor, status=status, visibility="public", q=q
            )
        jobs = await _newest_jobs(s, [v.id for v in page])
    items = [video_out(v, jobs.get(v.id), _links(services, request, v.visibility)) for v in page]
    return VideoPage(items=items, next_cursor=nxt)


async def load_view(services: Services, video_id: str) -> VideoView:
    """The video as viewers see it: from the cache when it holds it (no database query),
    else from the database (and cached when final; see ``reelstream.cache.videos``)."""

    async def load() -> VideoView:
        async with services.db.read() as s:
            video = await repo.get_video(s, video_id)
            job = await services.queue.active_job(s, video.id)
            return VideoView.from_row(video, job)

    return await services.video_cache.load(video_id, load)


@router.get("/videos/{video_id}", response_model=VideoOut, responses=_NOT_FOUND)
async def get_video(
    video_id: str, services: ServicesDep, request: Request, user: CurrentUser
) -> VideoOut:
    """One video: state, processing progress, renditions, why it failed. Private videos only
    for their owner and admins. ``resume_position_s``: where the signed-in caller stopped."""
    view = await load_view(services, video_id)
    authorize(user, "view", owner_id=view.owner_id, visibility=view.visibility)
    out = view_out(view, _links(services, request, view.visibility))
    if user is not None:  # per user: never part of the cached (shared) view
        views: ViewAggregator | None = getattr(request.app.state, "views", None)
        if views is not None:
            out.resume_position_s = await views.position(user.id, view.id)
    return out


@router.patch("/videos/{video_id}", response_model=VideoOut, responses={**_NOT_FOUND, **_INVALID})
async def update_video(
    video_id: str, patch: VideoPatch, services: ServicesDep, request: Request, user: WriteUser
) -> VideoOut:
    """Change the title and/or the visibility (owner or admin). Absent (or null) fields are
    left as they are."""
    async with services.db.transaction() as s:
        video = await repo.get_video(s, video_id, for_update=True)
        authorize(user, "edit", owner_id=video.owner_id, visibility=video.visibility)
        if patch.title is not None:
            video.title = patch.title
        if patch.visibility is not None:
            video.visibility = patch.visibility
        await s.flush()
        job = await services.queue.active_job(s, video.id)
    return video_out(video, job, _links(services, request, video.visibility))


@router.delete("/videos/{video_id}", status_code=204, response_class=Response, responses=_NOT_FOUND)
async def delete_video(video_id: str, services: ServicesDep, user: WriteUser) -> Response:
    """Delete a video with its jobs, renditions, uploads and stored files (owner or admin).

    The database row goes first (one transaction), so the video disappears at once and
    atomically; files are removed afterwards. A storage failure then is logged, not returned:
    the files are unreachable without the row and can be collected later.
    """
    async with services.db.transaction() as s:
        video = await repo.get_video(s, video_id, for_update=True)
        authorize(user, "delete", owner_id=video.owner_id, visibility=video.visibility)
        upload_ids = list(
            (await s.execute(select(Upload.id).where(Upload.video_id == video.id))).scalars()
        )
        await webhooks.emit(s, "video.deleted", video)
        await repo.delete_video(s, video.id)
    try:
        await services.store.delete_prefix(video_prefix(video_id))
    except StorageError as exc:
        log.error("video %s deleted, but its files could not be removed: %s", video_id, exc)
    staging = services.settings.resolved_upload_dir
    await anyio.to_thread.run_sync(_remove_staging, staging, upload_ids)
    return Response(status_code=204)


def _remove_staging(upload_dir: Path, upload_ids: list[str]) -> None:
    """Remove the tus staging files (layout owned by ``reelstream.ingest.staging.local``) of these
    uploads; a failure is logged: the ingest janitor removes orphan staging files later."""
    staging = StagingArea(upload_dir)
    for upload_id in upload_ids:
        try:
            staging.remove(upload_id)
        except (OSError, ReelstreamError) as exc:
            log.error("cannot remove the staging files of upload %s: %s", upload_id, exc)


@router.get(
    "/videos/{video_id}/playback",
    response_model=PlaybackOut,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorOut, "description": "Not playable yet (or failed); says why"},
    },
)
async def get_playback(
    video_id: str, services: ServicesDep, request: Request, user: CurrentUser
) -> PlaybackOut:
    """Signed HLS URL of the published ladder, valid until ``expires_at``. Private videos only
    for their owner and admins (nobody else can obtain a token for them).

    The URL works as it is in any HLS client: the token is part of the path, so every playlist
    and segment below the master playlist carries it.
    """
    view = await load_view(services, video_id)
    authorize(user, "playback", owner_id=view.owner_id, visibility=view.visibility)
    return playback_out(view, _links(services, request, view.visibility))
