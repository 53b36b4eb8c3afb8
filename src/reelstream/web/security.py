"""Security headers for the pages: a Content-Security-Policy and its companions, as one small
ASGI middleware that ``mount_web`` installs.

Every HTML response (the pages and their HTML error pages) gets

* ``Content-Security-Policy`` (``page_policy``): scripts and styles only from this origin's
  files (the templates hold no inline ``<script>``, ``<style>``, ``style=`` or ``on…=``), no
  plugins, no ``<base>`` elsewhere, forms only to this origin, and ``frame-ancestors 'none'``.
  The players need ``blob:`` for media (MSE) and for hls.js's worker (``worker-src``); the media
  origin of signed playback URLs (``public_base_url``, when that is another origin, e.g. the
  edge) is allowed for fetches (``connect-src``: hls.js, dash.js, the storyboard), media
  (native HLS, ``<track>``) and images (posters, storyboard sprites), and nothing else is;
* ``X-Frame-Options: DENY`` (the same for browsers without ``frame-ancestors``);
* ``Referrer-Policy: same-origin`` (signed media URLs and ``next=`` never leak to other sites).

Swagger UI (``/docs``, ``reelstream.web.site_files``) is served from this server's own files and
started by a static script, so it gets ``DOCS_POLICY``: the page policy without media, workers
or any other origin (no CDN: the explorer works offline; checked in Chromium, Swagger UI 5 runs
under it without a violation). ReDoc is not vendored and is off.

Every other response (the JSON API, static files) gets ``X-Content-Type-Options: nosniff``
only: a JSON body carrying a user's title is never sniffed into HTML, a static file never into a
script of another type. A CSP there would protect nothing (no document is rendered from it).
``/media`` is left alone: its headers (origin and edge alike) belong to delivery, and media
elements do not sniff into documents.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = ("/docs",)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
_SKIPPED = ("/media/",)


def media_origin(public_base_url: str | None) -> str | None:
    """The origin (``scheme://host[:port]``) signed playback URLs point at, if configured."""
    if not public_base_url:
        return None
    parts = urlsplit(public_base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def page_policy(public_base_url: str | None = None) -> str:
    """The Content-Security-Policy of every page."""
    media = media_origin(public_base_url)
    extra = f" {media}" if media else ""
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: blob:{extra}",
        f"media-src 'self' blob:{extra}",
        f"connect-src 'self'{extra}",
        "worker-src 'self' blob:",  # hls.js starts its transmuxing worker from a blob: URL
        "font-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
    return "; ".join(directives)


class SecurityHeaders:
    """Adds the page headers to HTML responses and ``nosniff`` to the others (see above)."""

    def __init__(self, app: ASGIApp, *, public_base_url: str | None = None) -> None:
        self.app = app
        self.policy = page_policy(public_base_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_SKIPPED):
            await self.app(scope, receive, send)
            return
        docs = path in DOCS_PATHS or path.startswith("/docs/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").lower().startswith("text/html"):
                    headers["Content-Security-Policy"] = DOCS_POLICY if docs else self.policy
                    headers["X-Frame-Options"] = "DENY"
                    headers["Referrer-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, send_with_headers)
