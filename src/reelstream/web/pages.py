"""Server-rendered pages: the library (``/``), the upload page, the watch page and "My videos"
(``/me/videos``); the account pages are in ``reelstream.web.account``.

The pages call the same ``VideoService`` as the JSON API (``reelstream.videos.service``), so
the first paint needs no API round trip; the small scripts in ``static/`` then talk to the JSON API
(tus uploads, status polling, signed playback URLs). Templates are Jinja2 with autoescaping on.

Who may see what follows ``reelstream.auth.policy``: a private video's watch page sends an
anonymous visitor to ``/login`` and shows others a 403 page. Every page gets ``user`` and the
session's ``csrf_token`` (a ``<meta name="csrf-token">`` for the scripts).

Errors: an unknown video on ``/watch/...`` renders the HTML 404 page. Other HTTP errors render
HTML only when a browser asks for a page (``Accept: text/html``) outside the API and media
paths; API clients keep getting the JSON error body.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from markupsafe import escape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response

from reelstream.auth.deps import CurrentUser, ReadUser, WriteUser, permits
from reelstream.auth.errors import Forbidden
from reelstream.db.models import VIDEO_STATUSES, Video
from reelstream.http.pagination import InvalidCursor
from reelstream.videos.deps import VideoServiceDep
from reelstream.videos.errors import VideoNotFound
from reelstream.videos.presenters import NOT_AVAILABLE
from reelstream.web.account import router as account_router
from reelstream.web.account_page import router as account_page_router
from reelstream.web.admin import router as admin_router
from reelstream.web.admin_qoe import router as admin_qoe_router
from reelstream.web.admin_users import router as admin_users_router
from reelstream.web.capacity import router as capacity_router
from reelstream.web.embed import oembed_href, site_base
from reelstream.web.embed import router as embed_router
from reelstream.web.render import STATIC_DIR, page_context, render, short_side
from reelstream.web.security import SecurityHeaders
from reelstream.web.site_files import router as site_router
from reelstream.web.studio import MY_VIDEOS_NOTICES
from reelstream.web.studio import router as studio_router

if TYPE_CHECKING:
    from reelstream.services import Services

PAGE_SIZE = 24
MAX_QUERY = 300
_JSON_PREFIXES = ("/api/", "/media/", "/static/")

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def poster_url(services: Services, video: Video) -> str | None:
    """The signed poster URL of a published video (same token scheme as playback)."""
    if video.status != "ready" or not video.published_rev:
        return None
    expires = int(time.time()) + services.settings.playback_ttl_for(video.visibility)
    token = services.signer.sign(video.id, expires)
    name = (video.media or {}).get("poster") or "poster.jpg"
    return f"/media/{video.id}/{video.published_rev}/{token}/{name}"


def _card(services: Services, video: Video) -> dict[str, Any]:
    return {
        "id": video.id,
        "title": video.title,
        "status": video.status,
        "visibility": video.visibility,
        "duration_s": video.duration_s,
        "created_at": video.created_at,
        "poster_url": poster_url(services, video),
        "heights": [short_side(r.width, r.height) or r.height for r in video.renditions if r.ready],
        "view_count": video.view_count or 0,
    }


DESCRIPTION_PREVIEW = 280  # characters (or 4 lines) of a description shown before "Show more"


def _description(text: str) -> dict[str, Any]:
    """The watch page's description: the whole text, and a preview when it is long."""
    lines = text.splitlines()
    long = len(text) > DESCRIPTION_PREVIEW or len(lines) > 4
    preview = "\n".join(lines[:4])[:DESCRIPTION_PREVIEW].rstrip() + "…" if long else text
    return {"text": text, "long": long, "preview": preview}


def _share(request: Request, services: Services, video: Video) -> dict[str, Any]:
    """The watch page's Share box: the absolute watch URL and, unless the video is private,
    the embed code of the embed page (``/embed/{id}``)."""
    base = (services.settings.public_base_url or str(request.base_url)).rstrip("/")
    embed = None
    if video.visibility != "private":
        embed = (
            f'<iframe src="{base}/embed/{video.id}" width="640" height="360" '
            f'title="{escape(video.title)}" frameborder="0" '
            'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>'
        )
    return {"url": f"{base}/watch/{video.id}", "embed": embed}


# -- pages ----------------------------------------------------------------------------------


def _filters(q: str | None, status: str | None) -> tuple[str | None, str | None, str]:
    """The search text and status of a listing page (an unknown status is ignored) and the
    query string that keeps them on the pager's links."""
    text = (q or "").strip()[:MAX_QUERY] or None
    state = status if status in VIDEO_STATUSES else None
    kept = urlencode([(k, v) for k, v in (("q", text), ("status", state)) if v])
    return text, state, kept


@dataclass(frozen=True)
class VideoListPage:
    """What differs between the library and "My videos" (one template: videos.html)."""

    page: str
    heading: str
    base_path: str
    list_id: str
    show_visibility: bool  # and the status filter, the status of ready videos, Edit links
    empty: str
    empty_filtered: str


LIBRARY = VideoListPage(
    "library", "Library", "/", "video-list", False, "No videos yet.", "No videos match."
)
MY_VIDEOS = VideoListPage(
    "my-videos",
    "My videos",
    "/me/videos",
    "my-video-list",
    True,
    "You have not uploaded a video yet.",
    "None of your videos match.",
)


def _video_list(
    kind: VideoListPage,
    cards: list[Any],
    next_cursor: str | None,
    cursor: str | None,
    text: str | None,
    state: str | None,
    kept: str,
    ctx: dict[str, Any],
) -> Response:
    return render(
        "videos.html",
        page=kind.page,
        heading=kind.heading,
        base_path=kind.base_path,
        list_id=kind.list_id,
        show_visibility=kind.show_visibility,
        empty=kind.empty,
        empty_filtered=kind.empty_filtered,
        videos=cards,
        next_cursor=next_cursor,
        paged=bool(cursor),
        q=text or "",
        status=state or "",
        statuses=VIDEO_STATUSES,
        kept=kept,
        **ctx,
    )


@router.get("/", name="library")
async def library(
    videos: VideoServiceDep,
    user: CurrentUser,
    cursor: str | None = None,
    q: str | None = None,
) -> Response:
    """Public videos viewers can watch now, newest first; ``q`` searches titles (no status
    filter: the library shows watchable videos only)."""
    ctx = page_context(videos.services, user)
    text, state, kept = _filters(q, None)
    try:
        listing = await videos.list_videos(
            user, limit=PAGE_SIZE, cursor=cursor, q=text, status=state, with_jobs=False
        )
    except InvalidCursor as exc:
        return render("error.html", 400, heading="Bad page link", message=exc.message, **ctx)
    cards = [_card(videos.services, v) for v in listing.videos]
    return _video_list(LIBRARY, cards, listing.next_cursor, cursor, text, state, kept, ctx)


@router.get("/upload", name="upload")
async def upload_page(videos: VideoServiceDep, user: WriteUser) -> Response:
    return render("upload.html", page="upload", **page_context(videos.services, user))


@router.get("/me/videos", name="my-videos")
async def my_videos(
    videos: VideoServiceDep,
    user: ReadUser,
    cursor: str | None = None,
    q: str | None = None,
    status: str | None = None,
    notice: str | None = None,
) -> Response:
    """The signed-in user's videos: every visibility and every status (``q``, ``status``:
    as on the library; ``notice``: what the studio redirects here with, e.g. ``deleted``)."""
    ctx = page_context(videos.services, user)
    ctx["page_notice"] = MY_VIDEOS_NOTICES.get(notice or "")
    text, state, kept = _filters(q, status)
    try:
        listing = await videos.list_videos(
            user,
            limit=PAGE_SIZE,
            cursor=cursor,
            owner="me",
            q=text,
            status=state,
            with_jobs=False,
        )
    except InvalidCursor as exc:
        return render("error.html", 400, heading="Bad page link", message=exc.message, **ctx)
    cards = [_card(videos.services, v) for v in listing.videos]
    return _video_list(MY_VIDEOS, cards, listing.next_cursor, cursor, text, state, kept, ctx)


@router.get("/watch/{video_id}", name="watch")
async def watch(
    video_id: str, request: Request, videos: VideoServiceDep, user: CurrentUser
) -> Response:
    """The player, then what viewers read: title, uploader, views, when, description, Share.
    The renditions and the processing timeline only for whoever may ``inspect`` the video
    (owner, admin); the Edit link for whoever may ``edit`` it."""
    ctx = page_context(videos.services, user)
    try:
        video = await videos.get(video_id, user)
    except Forbidden as exc:
        return render(
            "error.html", 403, heading="This video is private", message=exc.message, **ctx
        )
    except VideoNotFound:
        return render(
            "error.html",
            404,
            heading="Video not found",
            message="There is no video at this address. It may have been deleted.",
            **ctx,
        )
    # the renditions players can stream now: complete, or growing while the video processes
    growing = set((video.media or {}).get("growing", ())) if video.published_rev else set()
    ordered = sorted(video.renditions, key=lambda r: -r.height)
    renditions = [
        {
            "height": short_side(r.width, r.height) or r.height,
            "bandwidth": r.bandwidth,
            "ready": r.ready,
        }
        for r in ordered
        if r.ready or r.name in growing
    ]
    coming = [
        short_side(r.width, r.height) or r.height
        for r in ordered
        if not (r.ready or r.name in growing)
    ]
    owner, visibility = video.owner_id, video.visibility
    can_inspect = permits(user, "inspect", owner_id=owner, visibility=visibility)
    card = _card(videos.services, video)
    if video.status == "failed":  # why it failed: for the owner and admins
        card["error"] = video.error if can_inspect else NOT_AVAILABLE
    card["playable"] = bool(growing) or any(r["ready"] for r in renditions)
    card["uploader"] = await videos.uploader(video.owner_id)
    card["description"] = _description(video.description or "")
    # oEmbed discovery: only for videos anyone may embed
    oembed_url = (
        oembed_href(site_base(videos.services, request), video.id)
        if video.visibility in ("public", "unlisted")
        else None
    )
    return render(
        "watch.html",
        page="watch",
        video=card,
        renditions=renditions,
        coming=coming,
        can_inspect=can_inspect,
        can_edit=permits(user, "edit", owner_id=owner, visibility=visibility),
        share=_share(request, videos.services, video),
        oembed_url=oembed_url,
        **ctx,
    )


# -- HTML error pages for browsers ------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    if request.url.path.startswith(_JSON_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def _install_html_errors(app: FastAPI) -> None:
    """Render HTTP errors as HTML for browsers on page paths; keep JSON for everyone else."""
    json_handler = app.exception_handlers.get(StarletteHTTPException)

    async def _http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if _wants_html(request) or json_handler is None:
            heading = "Page not found" if exc.status_code == 404 else "Something went wrong"
            message = (
                "There is nothing at this address."
                if exc.status_code == 404
                else f"The request could not be completed ({exc.status_code})."
            )
            return render("error.html", exc.status_code, heading=heading, message=message)
        response = json_handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
        return response

    app.add_exception_handler(StarletteHTTPException, _http_error)


def mount_web(app: FastAPI) -> None:
    """Add the pages, the static files (``/static``) and the HTML error pages to ``app``."""
    app.include_router(router)
    app.include_router(account_router)
    app.include_router(account_page_router)  # /account: password, sessions, tokens
    app.include_router(admin_router)
    app.include_router(admin_users_router)  # /admin/users
    app.include_router(capacity_router)  # /admin/capacity
    app.include_router(admin_qoe_router)  # /admin/qoe: viewer experience
    app.include_router(site_router)  # /docs from local files, /favicon.ico
    app.include_router(embed_router)
    app.include_router(studio_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_html_errors(app)
    # CSP, framing, nosniff, referrer (reelstream.web.security)
    app.add_middleware(SecurityHeaders, public_base_url=app.state.services.settings.public_base_url)
