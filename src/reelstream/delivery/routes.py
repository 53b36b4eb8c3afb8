"""The origin: signed playlists, segments and posters straight from the blob store.

``GET|HEAD /media/{video_id}/{rev}/{token}/{path}`` serves the blob
``videos/{video_id}/r/{rev}/{path}``. The request is checked in this order, and the database is
never consulted (the token is stateless and a rev folder is immutable once published):

1. ``video_id``, ``rev`` and every part of ``path`` must have the shape reelstream produces
   (``reelstream.delivery.media``), else ``404``. No URL, however encoded, reaches the store
   with ``..``, a backslash, an absolute path or a hidden file.
2. The token must be a valid, unexpired signature for this video, else ``403`` with the reason.
3. The blob must exist, else ``404`` with a generic ``not found`` (never the storage key).

Any other URL under ``/media`` is answered by ``media_fallback``: ``403 token_missing`` when
only the token segment is absent, else ``404`` (never ``405``), always as a JSON error.

Responses are cacheable by any edge (``Cache-Control``, ``ETag``) and readable by players on
other origins (``Access-Control-Allow-Origin: *``); errors carry ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from reelstream.auth.errors import TokenMissing
from reelstream.delivery import media
from reelstream.delivery.responses import blob_response
from reelstream.errors import ReelstreamError
from reelstream.http.deps import ServicesDep
from reelstream.http.errors import error_response
from reelstream.storage.errors import BlobNotFound
from reelstream.storage.keys import rev_prefix

log = logging.getLogger(__name__)

router = APIRouter(tags=["delivery"])

CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "Content-Length, Content-Range, Accept-Ranges, ETag",
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "access-control-allow-methods": "GET, HEAD, OPTIONS",
    "access-control-allow-headers": "Range, If-None-Match, If-Modified-Since, If-Range",
    "access-control-max-age": "86400",
}

MEDIA_PATH = "/media/{video_id}/{rev}/{token}/{path:path}"

_MEDIA_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file"},
    206: {"description": "The requested byte range, with Content-Range"},
    304: {"description": "Not modified (If-None-Match / If-Modified-Since)"},
    403: {"description": "Missing, malformed, expired or foreign token; JSON error body"},
    404: {"description": "No such file, or a path that cannot name one; JSON error body"},
    416: {"description": "Range not satisfiable; Content-Range: bytes */size"},
}


def _error(exc: ReelstreamError) -> Response:
    """The JSON error: its ``client_message``, so no storage key or folder is echoed."""
    headers = {**CORS_HEADERS, "cache-control": "no-store"}
    if exc.status >= 500:
        log.error("media: %s", exc)
    return error_response(exc.status, exc.code, exc.client_message, headers)


def _not_found() -> Response:
    return _error(BlobNotFound("no such media file"))


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
    video_id: str, rev: str, token: str, path: str, request: Request, services: ServicesDep
) -> Response:
    """Signed, cacheable, range-capable delivery of one file of a published rev."""
    if not media.is_valid_location(video_id, rev, path):
        return _not_found()
    try:
        services.signer.verify(token, video_id)
        info = await services.store.stat(f"{rev_prefix(video_id, rev)}/{path}")
    except ReelstreamError as exc:
        return _error(exc)
    return blob_response(
        method=request.method,
        request_headers=request.headers,
        store=services.store,
        info=info,
        media_type=media.content_type(path),
        cache_control=media.cache_control(path),
        extra_headers=CORS_HEADERS,
    )


@router.api_route("/media/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def media_fallback(rest: str) -> Response:
    """Any other ``/media`` URL: 403 when only the token segment is missing, else 404."""
    video_id, _, tail = rest.partition("/")
    rev, _, path = tail.partition("/")
    if media.is_valid_location(video_id, rev, path):
        return _error(TokenMissing("a signed playback token is required in the URL"))
    return _not_found()


@router.options("/media/{rest:path}", include_in_schema=False)
async def media_preflight(rest: str) -> Response:
    """CORS preflight for players on other origins (for example a Range request)."""
    return Response(status_code=204, headers=PREFLIGHT_HEADERS)
