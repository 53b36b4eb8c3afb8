"""The three hot reads answered before FastAPI's routing: anonymous ``GET /api/v1/videos``
(the public first page), ``GET /api/v1/videos/{id}`` and ``GET /api/v1/videos/{id}/playback``.

Why by hand: once the body comes from the local tier of the read cache
(``reelstream.videos.hot``), what is left of a request is the framework: measured in process
(``benchmarks/serving.py`` has the figures over HTTP), FastAPI's nested routers and dependency
solving cost about twice the rest of the request. This middleware, the innermost of the app's
own (so admission control, the request metrics and the ``RateLimit-*`` headers apply as to any
route), answers only when everything needed is at hand:

* the request is a ``GET`` of one of the three paths, the list with no query but ``limit``;
* the caller is anonymous: no ``Authorization`` header and no session cookie (a signed-in
  caller gets personal fields, and a bad credential must still be a 401);
* the local tier holds the video (or the page), and ``hot.anonymous_body`` can answer (the
  video is visible to anyone and, for ``/playback``, playable).

Then the caller's ``reads`` limit is counted exactly as ``reelstream.ratelimit.deps.limit_api``
would, and the body is sent. A caller that was refused and is still over its limit gets the
same 429 here for any request of the three paths (``RateLimiter.refused``: no storage, no
framework), so a client over its limit costs less than a served read. Anything else falls
through to FastAPI untouched, and nothing was counted: the ordinary route applies the limit
itself. The routes in ``reelstream.videos.routes`` stay the documented operations
(OpenAPI) and the behaviour this mirrors; ``tests/videos/test_fastpath.py`` checks that both
answer the same bytes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from reelstream.auth.sessions import COOKIE_NAME
from reelstream.http.errors import error_response
from reelstream.ratelimit.deps import client_ip, enforce, refusal
from reelstream.ratelimit.errors import RateLimited
from reelstream.videos.hot import Kind, anonymous_body, page_body

if TYPE_CHECKING:
    from reelstream.ratelimit.limiter import RateLimiter
    from reelstream.services import Services

LIST_PATH: Final = "/api/v1/videos"
_VIDEO = re.compile(r"/api/v1/videos/([A-Za-z0-9_-]{1,64})(/playback)?")
_LIMIT = re.compile(rb"limit=([1-9][0-9]?|100)")
_COOKIE: Final = COOKIE_NAME.encode("latin-1") + b"="
DEFAULT_LIMIT: Final = 20  # the route's default page size


class RouteTemplate:
    """What ``MetricsMiddleware`` reads of ``scope["route"]``: the path template, so a request
    answered here is counted under the same label as the route's."""

    def __init__(self, path: str) -> None:
        self.path = path


LIST_ROUTE: Final = RouteTemplate(LIST_PATH)
VIDEO_ROUTE: Final = RouteTemplate("/api/v1/videos/{video_id}")
PLAYBACK_ROUTE: Final = RouteTemplate("/api/v1/videos/{video_id}/playback")


def _hot_route(path: str) -> tuple[RouteTemplate, str | None] | None:
    """The route of one of the three hot paths and its video id (None for the list), or
    None for any other path."""
    if path == LIST_PATH:
        return LIST_ROUTE, None
    m = _VIDEO.fullmatch(path)
    if m is None:
        return None
    return (PLAYBACK_ROUTE if m.group(2) else VIDEO_ROUTE), m.group(1)


def _anonymous(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization" or (name == b"cookie" and _COOKIE in value):
            return False
    return True


def _list_limit(query: bytes) -> int | None:
    """The page size of a list request with no other parameter, or None."""
    if not query:
        return DEFAULT_LIMIT
    m = _LIMIT.fullmatch(query)
    return int(m.group(1)) if m else None


class HotReads:
    """ASGI middleware: the anonymous hot reads, from the local tier, without the framework."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            hot = _hot_route(scope["path"])
            if hot is not None:
                route, video_id = hot
                if await self._refused(scope, receive, send, route):
                    return
                body = self._body(scope, route, video_id) if _anonymous(scope) else None
                if body is not None:
                    await self._answer(scope, receive, send, body)
                    return
        await self.app(scope, receive, send)

    async def _refused(
        self, scope: Scope, receive: Receive, send: Send, route: RouteTemplate
    ) -> bool:
        """A caller refused a moment ago and still over its ``reads`` limit gets the 429 the
        route's ``limit_api`` would give (a router dependency: it runs before the route, signed
        in or not), cached view or not: a client over its limit costs less than a read."""
        limiter: RateLimiter | None = getattr(scope["app"].state, "ratelimiter", None)
        if limiter is None:
            return False
        verdict = limiter.refused("reads", client_ip(Request(scope)))
        if verdict is None:
            return False
        scope["route"] = route
        exc = refusal("reads", verdict)
        await error_response(exc.status, exc.code, exc.client_message, exc.headers)(
            scope, receive, send
        )
        return True

    def _body(self, scope: Scope, route: RouteTemplate, video_id: str | None) -> bytes | None:
        services: Services = scope["app"].state.services
        if video_id is None:  # the list
            limit = _list_limit(scope["query_string"])
            page = None if limit is None else services.video_cache.hot_page(limit)
            if page is None:
                return None
            scope["route"] = route
            return page_body(services, Request(scope), page)
        if scope["query_string"]:
            return None
        hot = services.video_cache.hot(video_id)
        if hot is None:
            return None
        kind: Kind = "playback" if route is PLAYBACK_ROUTE else "view"
        body = anonymous_body(services, Request(scope), hot, kind)
        if body is not None:
            scope["route"] = route
        return body

    async def _answer(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        request = Request(scope, receive)
        try:
            await enforce(request, "reads", client_ip(request))
        except RateLimited as exc:
            await error_response(exc.status, exc.code, exc.client_message, exc.headers)(
                scope, receive, send
            )
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
