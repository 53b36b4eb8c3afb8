"""One table from domain errors to HTTP status; every error body is
``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from reelstream.admin import errors as admin
from reelstream.auth import errors as auth
from reelstream.auth.errors import TokenError
from reelstream.db.errors import (
    DatabaseUnavailable,
    InvalidCursor,
    VideoNotFound,
    VideoNotPlayable,
)
from reelstream.errors import ReelstreamError
from reelstream.ingest import errors as ingest
from reelstream.quota.errors import QuotaExceeded
from reelstream.ratelimit.errors import RateLimited
from reelstream.storage.errors import BlobNotFound, InvalidKey, StorageError
from reelstream.transcode import errors as media
from reelstream.views import errors as views
from reelstream.webhooks import errors as webhooks

log = logging.getLogger(__name__)

STATUS: dict[type[ReelstreamError], int] = {
    VideoNotFound: 404,
    VideoNotPlayable: 409,
    InvalidCursor: 400,
    DatabaseUnavailable: 503,  # carries Retry-After
    TokenError: 403,
    auth.NotAuthenticated: 401,
    auth.InvalidCredentials: 401,
    auth.Forbidden: 403,
    auth.UsernameTaken: 409,
    auth.InvalidAccountInput: 422,
    auth.AccessTokenNotFound: 404,
    BlobNotFound: 404,
    InvalidKey: 404,
    StorageError: 503,
    ingest.UploadNotFound: 404,
    ingest.UploadExpired: 410,
    ingest.BadTusRequest: 400,
    ingest.UnsupportedTusVersion: 412,
    ingest.OffsetMismatch: 409,
    ingest.UploadTooLarge: 413,
    ingest.UnsupportedMediaType: 415,
    ingest.ChecksumMismatch: 460,
    ingest.UnsupportedChecksum: 400,
    ingest.UploadLocked: 423,
    ingest.UploadFinished: 409,
    media.InvalidCaption: 422,
    media.CaptionTooLarge: 413,
    media.UnsupportedCaptionType: 415,
    media.CaptionNotFound: 404,
    media.VideoNotReady: 409,
    media.InvalidPosterTime: 422,
    media.NothingToRetry: 409,
    media.RenditionNotFound: 404,
    RateLimited: 429,  # carries Retry-After and RateLimit-*
    QuotaExceeded: 413,
    views.InvalidBeacon: 422,
    webhooks.WebhookNotFound: 404,
    webhooks.InvalidWebhook: 422,
    admin.JobNotFound: 404,
    admin.UserNotFound: 404,
}


def status_for(exc: ReelstreamError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _is_page(request: Request) -> bool:
    """A browser page (not the API, media or static files): sign-in failures redirect."""
    return not request.url.path.startswith(("/api/", "/media/", "/static/")) and (
        "text/html" in request.headers.get("accept", "") or request.method == "GET"
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ReelstreamError)
    async def _domain(request: Request, exc: ReelstreamError) -> Response:
        if isinstance(exc, auth.NotAuthenticated) and _is_page(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        status = status_for(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        headers = getattr(exc, "headers", None)
        return error_response(status, exc.code, exc.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error")
