"""The video API: list, read, edit, delete videos and hand out signed playback URLs.

Visibility and who may do what: the table in ``reelstream.auth.policy`` (and docs/accounts.md).
Only ``public`` videos are listed; ``?owner=me`` lists the caller's own videos of every
visibility, ``?owner=<username>`` that user's public ones. ``unlisted`` videos are reachable
by id; ``private`` ones by their owner and admins.

Processing detail (``job``, ``filename``, why it failed in ``error``) only for the owner and
admins (the ``inspect`` action): the public listing is the same for every caller and carries
none, ``?owner=me`` carries it, one video carries it for whoever may inspect it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from reelstream.auth.deps import WriteUser, permits, resolve_principal
from reelstream.http.schemas import ErrorOut
from reelstream.videos.deps import VideoServiceDep, video_service
from reelstream.videos.hot import JSONBody, page_body
from reelstream.videos.presenters import media_links, playback_out, video_out, view_out
from reelstream.videos.schemas import PlaybackOut, VideoOut, VideoPage, VideoPatch, VideoStatus
from reelstream.views.aggregator import ViewAggregator

router = APIRouter(prefix="/api/v1", tags=["videos"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such video"}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "Invalid parameters"}
}


@router.get(
    "/videos",
    response_model=VideoPage,
    responses={400: {"model": ErrorOut, "description": "Invalid cursor"}, **_INVALID},
)
async def list_videos(
    request: Request,
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
) -> VideoPage | Response:
    """Public videos (or with ``owner=me`` the caller's own), newest first, one page at a time.

    Pass the ``next_cursor`` of a page as ``cursor`` to get the next one; it is null on the last
    page. A cursor is valid only with the filters (``status``, ``owner``, ``q``) of the listing
    that issued it; with others it is a 400. Unlisted and private videos are listed only to
    their owner, with ``owner=me``.
    """
    videos = video_service(request)  # called, not declared: see reelstream.videos.deps
    user = await resolve_principal(request, videos.services)  # a bad credential is still a 401
    if cursor is None and status is None and owner is None and q is None:  # the hot first page
        page = await videos.first_page(limit)
        return JSONBody(page_body(videos.services, request, page))
    listing = await videos.list_videos(
        user, limit=limit, cursor=cursor, status=status, owner=owner, q=q
    )
    mine = owner == "me"  # the caller's own videos: with their processing detail
    items = [
        video_out(
            v,
            listing.jobs.get(v.id),
            media_links(videos.services, request, v.visibility),
            detail=mine,
        )
        for v in listing.videos
    ]
    return VideoPage(items=items, next_cursor=listing.next_cursor)


@router.get("/videos/{video_id}", response_model=VideoOut, responses=_NOT_FOUND)
async def get_video(video_id: str, request: Request) -> VideoOut:
    """One video: state, processing progress, renditions, why it failed (``job``, ``filename``
    and the reason in ``error`` only for its owner and admins). Private videos only
    for their owner and admins. ``resume_position_s``: where the signed-in caller stopped."""
    # anonymous reads of a cached video were answered before routing (reelstream.videos.fastpath)
    videos = video_service(request)  # called, not declared: see reelstream.videos.deps
    user = await resolve_principal(request, videos.services)
    view = await videos.view(video_id, user)
    detail = permits(user, "inspect", owner_id=view.owner_id, visibility=view.visibility)
    out = view_out(view, media_links(videos.services, request, view.visibility), detail=detail)
    if user is not None:  # per user: never part of the cached (shared) view
        views: ViewAggregator | None = getattr(request.app.state, "views", None)
        if views is not None:
            out.resume_position_s = await views.position(user.id, view.id)
    return out


@router.patch("/videos/{video_id}", response_model=VideoOut, responses={**_NOT_FOUND, **_INVALID})
async def update_video(
    video_id: str, patch: VideoPatch, videos: VideoServiceDep, request: Request, user: WriteUser
) -> VideoOut:
    """Change the title, the description and/or the visibility (owner or admin). Absent (or
    null) fields are left as they are."""
    video, job = await videos.update(
        video_id,
        user,
        title=patch.title,
        description=patch.description,
        visibility=patch.visibility,
    )
    return video_out(
        video,
        job,
        media_links(videos.services, request, video.visibility),
        detail=permits(user, "inspect", owner_id=video.owner_id, visibility=video.visibility),
    )


@router.delete("/videos/{video_id}", status_code=204, response_class=Response, responses=_NOT_FOUND)
async def delete_video(video_id: str, videos: VideoServiceDep, user: WriteUser) -> Response:
    """Delete a video with its jobs, renditions, uploads and stored files (owner or admin).

    The database row goes first (one transaction), so the video disappears at once and
    atomically; files are removed afterwards. A storage failure then is logged, not returned:
    the files are unreachable without the row and can be collected later.
    """
    await videos.delete(video_id, user)
    return Response(status_code=204)


@router.get(
    "/videos/{video_id}/playback",
    response_model=PlaybackOut,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorOut, "description": "Not playable yet (or failed); says why"},
    },
)
async def get_playback(video_id: str, request: Request) -> PlaybackOut:
    """Signed HLS URL of the published ladder, valid until ``expires_at``. Private videos only
    for their owner and admins (nobody else can obtain a token for them).

    The URL works as it is in any HLS client: the token is part of the path, so every playlist
    and segment below the master playlist carries it.
    """
    videos = video_service(request)  # called, not declared: see reelstream.videos.deps
    user = await resolve_principal(request, videos.services)
    view = await videos.view(video_id, user, "playback")
    detail = permits(user, "inspect", owner_id=view.owner_id, visibility=view.visibility)
    return playback_out(view, media_links(videos.services, request, view.visibility), detail=detail)
