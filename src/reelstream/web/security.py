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

Two relaxations, per path (``policy_for``), each for the pages that need it and no other:

* the pages with the player (``/watch/…``, ``/embed/…``) allow ``style-src 'unsafe-inline'``:
  media-chrome puts ``<style>`` elements into its shadow roots, which ``style-src 'self'``
  blocks (muxinc/media-chrome#898). Inline style cannot run script (``script-src`` stays
  ``'self'``), and CSS exfiltration needs an HTML injection point, which autoescaping denies;
  ``img-src``/``connect-src``/``font-src`` stay limited, so injected CSS could not send data
  out anyway. The templates still hold no inline style (tests/web/test_security_headers.py);
* the embed page (``/embed/…``) is meant for other sites' iframes: ``frame-ancestors *`` and no
  ``X-Frame-Options``. It changes nothing (no forms; the player's beacons are the API's, which
  checks CSRF as always) and shows only what the policy lets the viewer see.

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


PLAYER_PREFIXES = ("/watch/", "/embed/")
EMBED_PREFIX = "/embed/"


def page_policy(
    public_base_url: str | None = None, *, player: bool = False, embed: bool = False
) -> str:
    """The Content-Security-Policy of a page; ``player``: a page with media-chrome's controls
    (inline styles in its shadow roots), ``embed``: a page other sites may frame."""
    media = media_origin(public_base_url)
    extra = f" {media}" if media else ""
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'" if player else "style-src 'self'",
        f"img-src 'self' data: blob:{extra}",
        f"media-src 'self' blob:{extra}",
        f"connect-src 'self'{extra}",
        "worker-src 'self' blob:",  # hls.js starts its transmuxing worker from a blob: URL
        "font-src 'self'",
        "frame-ancestors *" if embed else "frame-ancestors 'none'",
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
        self.player_policy = page_policy(public_base_url, player=True)
        self.embed_policy = page_policy(public_base_url, player=True, embed=True)

    def policy_for(self, path: str) -> str:
        if path.startswith(EMBED_PREFIX):
            return self.embed_policy
        if path.startswith(PLAYER_PREFIXES):
            return self.player_policy
        return self.policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_SKIPPED):
            await self.app(scope, receive, send)
            return
        docs = path in DOCS_PATHS or path.startswith("/docs/")
        embed = path.startswith(EMBED_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").lower().startswith("text/html"):
                    headers["Content-Security-Policy"] = (
                        DOCS_POLICY if docs else self.policy_for(path)
                    )
                    if not embed:
                        headers["X-Frame-Options"] = "DENY"
                    headers["Referrer-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, send_with_headers)
