"""One generic handler: a domain error answers with its own ``status`` and ``code``; every
error body is ``{"error": {"code": ..., "message": ...}}``, the message being the error's
``client_message`` (no storage key or backend reason reaches a client). A browser asking for a
page that raised an error with a ``page_redirect`` (sign-in required) is sent there with
``?next=``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from reelstream.errors import ReelstreamError

log = logging.getLogger(__name__)


UNAVAILABLE_RETRY_AFTER_S = 1
"""What a 503 says in ``Retry-After`` when the error gives no figure of its own."""


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error body. A 503 always carries ``Retry-After`` (clients and the edge back off
    and retry on it; a bare 503 reads as a failure)."""
    if status == 503 and not any(k.lower() == "retry-after" for k in headers or {}):
        headers = {**(headers or {}), "Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)}
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _is_page(request: Request) -> bool:
    """A browser page (not the API, media or static files): errors with a ``page_redirect``
    redirect."""
    return not request.url.path.startswith(("/api/", "/media/", "/static/")) and (
        "text/html" in request.headers.get("accept", "") or request.method == "GET"
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ReelstreamError)
    async def _domain(request: Request, exc: ReelstreamError) -> Response:
        if exc.page_redirect is not None and _is_page(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                f"{exc.page_redirect}?next={quote(target, safe='')}", status_code=303
            )
        status = exc.status
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        headers = getattr(exc, "headers", None)
        return error_response(status, exc.code, exc.client_message, headers)

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
