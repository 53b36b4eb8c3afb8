"""The embed page (``GET /embed/{video_id}``) and its oEmbed endpoint (``GET /oembed``).

``/embed/{id}`` is the player only (no site header or footer), full-viewport, for other sites'
iframes: ``reelstream.web.security`` gives this path ``frame-ancestors *`` and no
``X-Frame-Options``. It honours visibility like the watch page (``reelstream.auth.policy``,
action ``view``; the player then asks ``/playback`` as always): public and unlisted play for
anyone, a private video only for its owner or an admin. Unlike the watch page it never
redirects to the sign-in page (that page may not be framed): a refused viewer sees "This video
is private" in the frame (403) — a third-party iframe usually does not get the SameSite=Lax
session cookie, so private embeds play only where the owner's session is sent. An unknown id is a
small 404 page in the frame; a video not yet playable says it is processing and starts when it
can (static/embed.js polls).

``/oembed`` (https://oembed.com, JSON only: ``format=xml`` is 501 as the spec says) describes a
public or unlisted video given its watch or embed URL on this site: an iframe of the embed page
sized to ``maxwidth``/``maxheight``, the uploader's name and the signed poster. An unknown or
private video is the same 404 (a private title never leaks), a URL of another site a 400.
Absolute URLs use ``public_base_url`` when set, else the request's base URL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query, Request
from markupsafe import escape
from starlette.responses import HTMLResponse, JSONResponse, Response

from reelstream.auth.deps import CurrentUser
from reelstream.auth.errors import AuthError
from reelstream.db.models import User, Video
from reelstream.http.errors import error_response
from reelstream.videos.deps import VideoServiceDep
from reelstream.videos.errors import VideoNotFound
from reelstream.videos.presenters import media_links
from reelstream.web.render import render

if TYPE_CHECKING:
    from reelstream.services import Services

router = APIRouter(include_in_schema=False)

_VIDEO_PATH = re.compile(r"^/(?:watch|embed)/([A-Za-z0-9_-]{1,64})/?$")
DEFAULT_WIDTH = 640
MIN_SIZE = 32


def site_base(services: Services, request: Request) -> str:
    """This site's absolute base URL, without the trailing slash."""
    return (services.settings.public_base_url or str(request.base_url)).rstrip("/")


def oembed_href(base: str, video_id: str) -> str:
    """The discovery link of a video's watch page (``<link rel="alternate" …>``)."""
    return f"{base}/oembed?url={quote(f'{base}/watch/{video_id}', safe='')}&format=json"


def poster(services: Services, request: Request, video: Video) -> str | None:
    """The signed absolute URL of a ready video's poster (as the API's ``poster_url``)."""
    if video.status != "ready" or not video.published_rev:
        return None
    name = (video.media or {}).get("poster") or "poster.jpg"
    links = media_links(services, request, video.visibility)
    return links.url(video.id, video.published_rev, str(name))


def _playable(video: Video) -> bool:
    growing = (video.media or {}).get("growing") if video.published_rev else None
    return bool(growing) or any(r.ready for r in video.renditions)


@router.get("/embed/{video_id}", name="embed", response_class=HTMLResponse)
async def embed(
    request: Request, video_id: str, videos: VideoServiceDep, user: CurrentUser
) -> Response:
    try:
        video = await videos.get(video_id, user)
    except AuthError:
        return render(
            "embed.html",
            403,
            message_heading="This video is private",
            message="Only its owner and admins can watch it.",
        )
    except VideoNotFound:
        return render(
            "embed.html",
            404,
            message_heading="Video not found",
            message="There is no video at this address. It may have been deleted.",
        )
    card = {
        "id": video.id,
        "title": video.title,
        "status": video.status,
        "playable": _playable(video),
        "poster_url": poster(videos.services, request, video),
    }
    return render("embed.html", video=card)


def _size(video: Video, maxwidth: int | None, maxheight: int | None) -> tuple[int, int]:
    """The iframe's size: the video's aspect ratio (16:9 when unknown), 640 wide unless the
    consumer's maximum is smaller."""
    aspect = video.width / video.height if video.width and video.height else 16 / 9
    width = min(DEFAULT_WIDTH, maxwidth) if maxwidth else DEFAULT_WIDTH
    height = round(width / aspect)
    if maxheight and height > maxheight:
        height = maxheight
        width = round(height * aspect)
    return max(MIN_SIZE, width), max(MIN_SIZE, height)


def _video_id_of(url: str, request: Request, services: Services) -> str | None:
    """The video id of a watch/embed URL of this site, or None for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    hosts = {request.url.netloc.lower()}
    if services.settings.public_base_url:
        hosts.add(urlsplit(services.settings.public_base_url).netloc.lower())
    if parts.netloc.lower() not in hosts:
        return None
    match = _VIDEO_PATH.match(parts.path)
    return match.group(1) if match else None


@router.get("/oembed", name="oembed")
async def oembed(
    request: Request,
    videos: VideoServiceDep,
    url: str = Query(max_length=2000),
    format: str = "json",
    maxwidth: int | None = Query(default=None, ge=1),
    maxheight: int | None = Query(default=None, ge=1),
) -> Response:
    services = videos.services
    if format != "json":
        return error_response(501, "not_implemented", "only format=json is supported")
    video_id = _video_id_of(url, request, services)
    if video_id is None:
        return error_response(400, "bad_request", "url must be a watch or embed URL of this site")
    not_found = error_response(404, "not_found", "no public video at this URL")
    try:
        video = await videos.get(video_id, None)  # what an anonymous viewer may see
    except (AuthError, VideoNotFound):
        return not_found
    async with services.db.read() as s:
        owner = await s.get(User, video.owner_id) if video.owner_id else None
    base = site_base(services, request)
    width, height = _size(video, maxwidth, maxheight)
    src = f"{base}/embed/{video.id}"
    html = (
        f'<iframe src="{escape(src)}" width="{width}" height="{height}" frameborder="0" '
        f'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen '
        f'title="{escape(video.title)}"></iframe>'
    )
    body: dict[str, Any] = {
        "version": "1.0",
        "type": "video",
        "provider_name": "reelstream",
        "provider_url": f"{base}/",
        "title": video.title,
        "author_name": owner.username if owner else None,
        "html": html,
        "width": width,
        "height": height,
    }
    thumbnail = poster(services, request, video)
    top = max((r for r in video.renditions if r.ready), key=lambda r: r.height, default=None)
    if thumbnail and top is not None:
        body |= {
            "thumbnail_url": thumbnail,
            "thumbnail_width": top.width,
            "thumbnail_height": top.height,
        }
    if owner is None:
        del body["author_name"]
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
