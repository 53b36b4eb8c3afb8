"""The origin: signed playlists, segments and posters straight from the blob store.

``GET|HEAD /media/{video_id}/{rev}/{token}/{path}`` serves the blob
``videos/{video_id}/r/{rev}/{path}``. The request is checked in this order, and the database is
never consulted (the token is stateless and a rev folder is immutable once published):

1. ``video_id``, ``rev`` and every part of ``path`` must have the shape reelstream produces
   (``reelstream.delivery.media``), else ``404``. No URL, however encoded, reaches the store
   with ``..``, a backslash, an absolute path or a hidden file.
2. The token must be a valid, unexpired signature for this video, else ``403`` with the reason.
3. The blob must exist, else ``404`` with a generic ``not found`` (never the storage key).

Any other URL under ``/media`` is answered with ``403 token_missing`` when only the token
segment is absent, else ``404`` (never ``405``), always as a JSON error; ``OPTIONS`` is the CORS
preflight; any other method is ``405``.

Responses are cacheable by any edge (``Cache-Control``, ``ETag``) and readable by players on
other origins (``Access-Control-Allow-Origin: *``); errors carry ``Cache-Control: no-store``.

The requests are answered by ``reelstream.delivery.asgi.MediaApp``, which the app factory puts
in front of FastAPI's routing. The routes below declare the operations for the OpenAPI
document; should a request reach them (an app without that dispatch), they hand it to a
``MediaApp`` too, so there is one implementation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from reelstream.delivery.asgi import CORS_HEADERS, PREFLIGHT_HEADERS, MediaApp
from reelstream.http.deps import ServicesDep

__all__ = ["CORS_HEADERS", "MEDIA_PATH", "PREFLIGHT_HEADERS", "router"]

router = APIRouter(tags=["delivery"])

MEDIA_PATH = "/media/{video_id}/{rev}/{token}/{path:path}"

_MEDIA_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file"},
    206: {"description": "The requested byte range, with Content-Range"},
    304: {"description": "Not modified (If-None-Match / If-Modified-Since)"},
    403: {"description": "Missing, malformed, expired or foreign token; JSON error body"},
    404: {"description": "No such file, or a path that cannot name one; JSON error body"},
    416: {"description": "Range not satisfiable; Content-Range: bytes */size"},
}


class _Handled(Response):
    """A response that lets a ``MediaApp`` answer the request it was made for."""

    def __init__(self, app: MediaApp) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@router.get(
    MEDIA_PATH,
    response_class=Response,
    responses=_MEDIA_DOC,
    operation_id="get_media",
    summary="Serve a playlist, segment or poster of a published video",
)
@router.head(
    MEDIA_PATH,
    response_class=Response,
    responses=_MEDIA_DOC,
    operation_id="head_media",
    summary="Headers of a media file, as GET would send them",
)
async def serve_media(
    video_id: str, rev: str, token: str, path: str, services: ServicesDep
) -> Response:
    """Signed, cacheable, range-capable delivery of one file of a published rev."""
    return _Handled(MediaApp(services))


@router.api_route("/media/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def media_fallback(rest: str, services: ServicesDep) -> Response:
    """Any other ``/media`` URL: 403 when only the token segment is missing, else 404."""
    return _Handled(MediaApp(services))


@router.options("/media/{rest:path}", include_in_schema=False)
async def media_preflight(rest: str, services: ServicesDep) -> Response:
    """CORS preflight for players on other origins (for example a Range request)."""
    return _Handled(MediaApp(services))
