"""The hot read path: response bodies rendered once per signing second, served from the
local tier of the video cache (``reelstream.videos.cache``) with no database query.

A body depends on the view, the base URL of the signed links and the tokens' expiry, which
is ``int(time.time()) + ttl``: every caller who needs no per-user part (anonymous callers of
``GET /videos/{id}`` and ``/playback``; anyone for the public listing's first page) gets the
same bytes within one second. So a body is rendered (pydantic, into JSON bytes) at most once
per second per video, kind and base URL, and otherwise copied out of the ``HotView``. The
bytes are exactly the response model's JSON (``VideoOut``, ``PlaybackOut``, ``VideoPage``), and
the routes keep declaring those models, so the OpenAPI document does not change. Used by
``reelstream.videos.fastpath`` (the video and its playback, before routing) and by the list
route (the first page).

Anything else (a caller who may not see the video anonymously, a video that is not playable,
a signed-in caller, whose ``resume_position_s`` is personal) takes the ordinary path.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, Literal

from starlette.requests import Request
from starlette.responses import Response

from reelstream.auth import policy
from reelstream.videos.cache import HotPage, HotView
from reelstream.videos.presenters import MediaLinks, playback_out, view_out
from reelstream.videos.schemas import VideoPage

if TYPE_CHECKING:
    from reelstream.services import Services

Kind = Literal["view", "playback"]
MAX_BASES: Final = 8  # base URLs remembered per entry (the Host header is the client's)


class JSONBody(Response):
    media_type = "application/json"


def _base_url(services: Services, request: Request) -> str:
    return (services.settings.public_base_url or str(request.base_url)).rstrip("/")


def anonymous_body(services: Services, request: Request, hot: HotView, kind: Kind) -> bytes | None:
    """The body for an anonymous caller, or None when the ordinary path must answer."""
    view = hot.view
    if not policy.allowed(kind, "anonymous", view.visibility):
        return None
    if kind == "playback" and (view.published_rev is None or not view.playable):
        return None  # the ordinary path says why (409)
    base = _base_url(services, request)
    expires = int(time.time()) + services.settings.playback_ttl_for(view.visibility)
    memo = hot.bodies.get((kind, base))
    if memo is not None and memo[0] == expires:
        return memo[1]
    links = MediaLinks(base_url=base, signer=services.signer, expires=expires)
    # anonymous: never the owner nor an admin, so no processing detail
    out = view_out(view, links, detail=False) if kind == "view" else playback_out(view, links)
    body = out.__pydantic_serializer__.to_json(out)
    if len(hot.bodies) >= MAX_BASES:
        hot.bodies.clear()
    hot.bodies[(kind, base)] = (expires, body)
    return body


def page_body(services: Services, request: Request, page: HotPage) -> bytes:
    """The body of the public listing's first page (public videos only: the same for all)."""
    base = _base_url(services, request)
    expires = int(time.time()) + services.settings.playback_ttl_for("public")
    memo = page.bodies.get(base)
    if memo is not None and memo[0] == expires:
        return memo[1]
    links = MediaLinks(base_url=base, signer=services.signer, expires=expires)
    items = [view_out(v, links, detail=False) for v in page.views]  # the same for everyone
    out = VideoPage(items=items, next_cursor=page.next_cursor)
    body = out.__pydantic_serializer__.to_json(out)
    if len(page.bodies) >= MAX_BASES:
        page.bodies.clear()
    page.bodies[base] = (expires, body)
    return body
