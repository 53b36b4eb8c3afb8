"""The studio (``/studio/{id}``): where a video's owner, or an admin for anyone's video, manages
it from the browser.

| Request | What it does |
|---|---|
| ``GET /studio/{id}`` | the page: details form, poster, captions, processing, replace, delete |
| ``POST /studio/{id}`` | title, description, visibility (``VideoService.update``, as ``PATCH``) |
| ``GET /studio/{id}/delete`` | the confirmation step (a box to tick) |
| ``POST /studio/{id}/delete`` | deletes (``VideoService.delete``, as ``DELETE``), to /me/videos |
| ``POST /studio/{id}/captions`` | multipart: ``file`` (.vtt/.srt), ``lang``, ``label`` |
| ``POST /studio/{id}/captions/{lang}/delete`` | removes that track |
| ``POST /studio/{id}/poster`` | ``at_s``: queues a poster job (``VideoService.choose_poster``) |

Retries go through the JSON API from ``static/timeline.js`` (as on the watch page), and
replacing the source is a tus upload to ``/api/v1/uploads`` with ``video_id`` in its metadata,
from ``static/studio.js``.

Authorization is the API's: the ``edit`` action of ``reelstream.auth.policy`` (``delete`` for
deleting). An anonymous visitor is sent to ``/login?next=``, another user gets the HTML 403
page, an unknown video the 404 page. Every POST is a form carrying the session's CSRF token;
the caption form is multipart, so its ``csrf_token`` part is read here and handed to
``reelstream.auth.deps`` as the request's form before the caller is resolved. A change that
works answers 303 back to the page (POST-redirect-GET) with a notice named in ``?done=``; one
that is refused shows the page again with the reason and the error's status (422 for bad
input). ``can_edit`` is what other pages call to decide whether to link here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from reelstream.auth.deps import (
    CurrentUser,
    Principal,
    WriteUser,
    permits,
    read_form,
    require_user,
)
from reelstream.auth.errors import Forbidden, NotAuthenticated
from reelstream.auth.sessions import COOKIE_NAME
from reelstream.db.models import Video
from reelstream.errors import ReelstreamError
from reelstream.media.errors import CaptionTooLarge
from reelstream.processing.service import ProcessingService
from reelstream.processing.timeline import PERMANENT_HINT
from reelstream.queue.kinds import POSTER
from reelstream.ratelimit.deps import limit_writes
from reelstream.ratelimit.errors import RateLimited
from reelstream.videos.cache import VideoView
from reelstream.videos.deps import VideoServiceDep
from reelstream.videos.errors import VideoNotFound
from reelstream.videos.presenters import media_links, view_out
from reelstream.videos.service import VideoService
from reelstream.web.render import page_context, render
from reelstream.web.studio_forms import (
    MAX_CAPTION_FORM_BYTES,
    FormInvalid,
    csrf_of_caption_form,
    parse_caption_form,
    parse_edit,
    parse_poster,
)

if TYPE_CHECKING:
    from reelstream.services import Services

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

NOTICES = {
    "saved": "Saved.",
    "caption-added": "Caption track saved.",
    "caption-removed": "Caption track removed.",
    "poster": "New poster requested: it is being made from the frame you chose.",
}
"""The notices a change redirects with (``?done=<key>``): fixed sentences, never user text."""

DELETED_NOTICE = "The video was deleted."
"""What ``/me/videos?notice=deleted`` says after a deletion (``MY_VIDEOS_NOTICES``)."""

MY_VIDEOS_NOTICES = {"deleted": DELETED_NOTICE}

PERMANENT_STUDIO_HINT = f"{PERMANENT_HINT} Or replace this video's source below."
"""What the studio says about a video that failed for good (``retryable`` false)."""

VISIBILITY_CHOICES = (
    ("public", "Public", "Listed in the library; anyone can watch it."),
    ("unlisted", "Unlisted", "Not listed; anyone with the link can watch it."),
    ("private", "Private", "Only you (and admins) can watch it."),
)
"""The visibility choice of the studio and the upload page, one line each."""


def can_edit(principal: Principal | None, video: Video | VideoView) -> bool:
    """Whether ``principal`` may manage ``video`` in the studio (the policy's ``edit`` action
    and its scope): what the watch page and "My videos" ask before showing an "Edit" link."""
    return permits(principal, "edit", owner_id=video.owner_id, visibility=video.visibility)


def can_replace(principal: Principal | None, video: Video | VideoView) -> bool:
    """Whether ``principal`` may upload a new source for ``video`` (the policy's ``upload``
    action: its owner, not an admin)."""
    return permits(principal, "upload", owner_id=video.owner_id, visibility=video.visibility)


def studio_path(video_id: str, done: str | None = None) -> str:
    path = f"/studio/{quote(video_id, safe='')}"
    return f"{path}?done={done}" if done else path


# -- rendering -------------------------------------------------------------------------------


async def _poster_pending(services: Services, video_id: str) -> bool:
    async with services.db.read(primary=True) as s:
        jobs = await services.queue.jobs_of(s, video_id)
    return any(j.kind == POSTER and j.state in ("queued", "running") for j in jobs)


async def _studio(
    videos: VideoService,
    request: Request,
    user: Principal | None,
    video_id: str,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The studio page of a video the caller may edit (raises the policy's errors)."""
    services = videos.services
    view = await videos.view(video_id, user, "edit")
    detail = permits(user, "inspect", owner_id=view.owner_id, visibility=view.visibility)
    video = view_out(view, media_links(services, request, view.visibility), detail=detail)
    _, captions = await videos.list_captions(video_id, user)
    timeline = (await ProcessingService(services).timeline(video_id, user)).composed
    response = render(
        "studio.html",
        status,
        page="studio",
        video=video,
        captions=captions,
        poster_pending=await _poster_pending(services, video_id),
        retryable=timeline.retryable,
        retry_reason=None if timeline.retryable else PERMANENT_STUDIO_HINT,
        visibilities=VISIBILITY_CHOICES,
        can_delete=permits(user, "delete", owner_id=view.owner_id, visibility=view.visibility),
        # replacing the source is a tus upload: the policy's "upload" action (the owner only)
        can_replace=can_replace(user, view),
        form=extra.pop("form", None) or {},
        errors=extra.pop("errors", None) or {},
        **extra,
        **page_context(services, user),
    )
    response.headers.update(headers or {})
    return response


def _denied(services: Services, user: Principal | None, exc: Exception) -> Response | None:
    """The HTML page for a video the caller cannot manage (None: not that kind of error)."""
    ctx = page_context(services, user)
    if isinstance(exc, VideoNotFound):
        return render(
            "error.html",
            404,
            heading="Video not found",
            message="There is no video at this address. It may have been deleted.",
            **ctx,
        )
    if isinstance(exc, Forbidden):
        return render(
            "error.html", 403, heading="You cannot manage this video", message=exc.message, **ctx
        )
    return None


async def _refused(
    videos: VideoService,
    request: Request,
    user: Principal,
    video_id: str,
    exc: ReelstreamError,
    section: str,
    form: dict[str, str] | None = None,
) -> Response:
    """The page again, with why a change was refused next to its form."""
    denied = _denied(videos.services, user, exc)
    if denied is not None:
        return denied
    if exc.status >= 500:
        raise exc
    message = exc.sentence if isinstance(exc, RateLimited) else exc.client_message
    headers = exc.headers if isinstance(exc, RateLimited) else None
    try:
        return await _studio(
            videos,
            request,
            user,
            video_id,
            exc.status,
            headers=headers,
            errors={section: message},
            form=form,
        )
    except (Forbidden, VideoNotFound) as again:
        page = _denied(videos.services, user, again)
        assert page is not None
        return page


# -- the page and its forms --------------------------------------------------------------------


@router.get("/studio/{video_id}", name="studio")
async def studio_page(
    video_id: str,
    request: Request,
    videos: VideoServiceDep,
    user: CurrentUser,
    done: str | None = None,
) -> Response:
    try:
        return await _studio(videos, request, user, video_id, page_notice=NOTICES.get(done or ""))
    except (Forbidden, VideoNotFound) as exc:
        page = _denied(videos.services, user, exc)
        assert page is not None
        return page


@router.post("/studio/{video_id}")
async def edit_video(
    video_id: str, request: Request, videos: VideoServiceDep, user: WriteUser
) -> Response:
    form = await read_form(request)
    sent = {k: v[0] for k, v in form.items() if k in ("title", "description", "visibility")}
    try:
        await limit_writes(request, videos.services)
        patch = parse_edit(form)
        await videos.update(
            video_id,
            user,
            title=patch.title,
            description=patch.description,
            visibility=patch.visibility,
        )
    except (ReelstreamError, RateLimited) as exc:
        return await _refused(videos, request, user, video_id, exc, "edit", sent)
    return RedirectResponse(studio_path(video_id, "saved"), status_code=303)


@router.get("/studio/{video_id}/delete", name="studio-delete")
async def delete_page(video_id: str, videos: VideoServiceDep, user: CurrentUser) -> Response:
    """The confirmation step: nothing is deleted until its form is sent with the box ticked."""
    try:
        view = await videos.view(video_id, user, "delete")
    except (Forbidden, VideoNotFound) as exc:
        page = _denied(videos.services, user, exc)
        assert page is not None
        return page
    return render(
        "studio_delete.html", page="studio", video=view, **page_context(videos.services, user)
    )


@router.post("/studio/{video_id}/delete")
async def delete_video(
    video_id: str, request: Request, videos: VideoServiceDep, user: WriteUser
) -> Response:
    form = await read_form(request)
    ctx = page_context(videos.services, user)
    try:
        view = await videos.view(video_id, user, "delete")
        if form.get("confirm", [""])[0] != "yes":
            return render(
                "studio_delete.html",
                422,
                page="studio",
                video=view,
                error="Tick the box to confirm that the video should be deleted.",
                **ctx,
            )
        await limit_writes(request, videos.services)
        await videos.delete(video_id, user)
    except (Forbidden, VideoNotFound) as exc:
        page = _denied(videos.services, user, exc)
        assert page is not None
        return page
    except RateLimited as exc:
        return _rate_limited(videos.services, user, exc)
    return RedirectResponse("/me/videos?notice=deleted", status_code=303)


def _rate_limited(services: Services, user: Principal, exc: RateLimited) -> Response:
    response = render(
        "error.html",
        429,
        heading="Too many changes",
        message=exc.sentence,
        **page_context(services, user),
    )
    response.headers.update(exc.headers)
    return response


async def _caption_caller(request: Request, services: Services) -> tuple[Principal, bytes]:
    """The caller of a caption form and its body: the body is read (bounded) first, since the
    session's CSRF token is one of its parts; nothing is read for a request with no
    credential at all."""
    if not (request.cookies.get(COOKIE_NAME) or request.headers.get("authorization")):
        raise NotAuthenticated("sign in to manage your videos")
    declared = request.headers.get("content-length", "")
    too_large = CaptionTooLarge("the caption file is larger than 2 MiB")
    if declared.isdigit() and int(declared) > MAX_CAPTION_FORM_BYTES:
        raise too_large
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CAPTION_FORM_BYTES:
            raise too_large
    content_type = request.headers.get("content-type", "")
    request.state.form = {"csrf_token": [csrf_of_caption_form(content_type, body)]}
    user = await require_user("write")(request, services)
    return user, body


@router.post("/studio/{video_id}/captions")
async def add_caption(video_id: str, request: Request, videos: VideoServiceDep) -> Response:
    services = videos.services
    try:
        user, body = await _caption_caller(request, services)
    except CaptionTooLarge as exc:
        return render(
            "error.html",
            exc.status,
            heading="Caption file too large",
            message=f"{exc.message}. Go back and choose a smaller file.",
            **page_context(services, None),
        )
    try:
        await limit_writes(request, services)
        caption = parse_caption_form(request.headers.get("content-type", ""), body)

        async def upload() -> tuple[bytes, str | None, str | None]:
            return caption.data, caption.lang, caption.label

        await videos.add_caption(video_id, user, upload)
    except (ReelstreamError, RateLimited) as exc:
        return await _refused(videos, request, user, video_id, exc, "captions")
    return RedirectResponse(studio_path(video_id, "caption-added"), status_code=303)


@router.post("/studio/{video_id}/captions/{lang}/delete")
async def remove_caption(
    video_id: str, lang: str, request: Request, videos: VideoServiceDep, user: WriteUser
) -> Response:
    try:
        await limit_writes(request, videos.services)
        await videos.remove_caption(video_id, user, lang)
    except (ReelstreamError, RateLimited) as exc:
        return await _refused(videos, request, user, video_id, exc, "captions")
    return RedirectResponse(studio_path(video_id, "caption-removed"), status_code=303)


@router.post("/studio/{video_id}/poster")
async def choose_poster(
    video_id: str, request: Request, videos: VideoServiceDep, user: WriteUser
) -> Response:
    form = await read_form(request)
    try:
        await limit_writes(request, videos.services)
        await videos.choose_poster(video_id, user, parse_poster(form))
    except (ReelstreamError, RateLimited) as exc:
        return await _refused(videos, request, user, video_id, exc, "poster")
    return RedirectResponse(studio_path(video_id, "poster"), status_code=303)


__all__ = ["MY_VIDEOS_NOTICES", "FormInvalid", "can_edit", "router", "studio_path"]
