"""Security headers (issue 9, defect 6; ``reelstream.web.security``): every HTML page answers a
Content-Security-Policy with ``frame-ancestors 'none'``, ``X-Frame-Options: DENY``, ``nosniff``
and ``Referrer-Policy: same-origin``; the API and static files get ``nosniff`` only; ``/media``
nothing; Swagger UI its own policy (and still loads). The player pages (``/watch/``,
``/embed/``) alone allow inline style (media-chrome), the embed page alone may be framed. The
templates hold nothing the policy would block (inline scripts, styles or event handlers).
Real Chromium: tests/browser."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.web.render import TEMPLATE_DIR
from reelstream.web.security import DOCS_POLICY, page_policy
from tests.support import create_account, csrf_of, sign_up_session
from tests.videos.factories import create_video, publish_fake

PAGE_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
REQUIRED_DIRECTIVES = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
]


def _directives(policy: str) -> dict[str, str]:
    parts = [p.strip() for p in policy.split(";") if p.strip()]
    return {p.split(" ", 1)[0]: p for p in parts}


PLAYER_STYLE = "style-src 'self' 'unsafe-inline'"


def _assert_page_headers(r: httpx2.Response, where: str) -> None:
    """The strict page headers; the pages with the player (``/watch/``, ``/embed/``) allow
    inline style (media-chrome's shadow-root ``<style>``) and nothing else more; the embed page
    may be framed by any site."""
    headers = r.headers
    path = r.request.url.path
    player = path.startswith(("/watch/", "/embed/"))
    embed = path.startswith("/embed/")
    assert headers["content-type"].startswith("text/html"), where
    for name, value in PAGE_HEADERS.items():
        if embed and name == "x-frame-options":
            assert name not in headers, where
            continue
        assert headers.get(name) == value, (where, name, headers.get(name))
    policy = _directives(headers["content-security-policy"])
    for directive in REQUIRED_DIRECTIVES:
        name = directive.split(" ", 1)[0]
        if player and name == "style-src":
            directive = PLAYER_STYLE
        elif embed and name == "frame-ancestors":
            directive = "frame-ancestors *"
        assert policy[name] == directive, (where, policy)
    if not player:
        assert "unsafe-inline" not in headers["content-security-policy"], where
    assert "unsafe-eval" not in headers["content-security-policy"]
    assert policy["script-src"] == "script-src 'self'", where


def _video(client: TestClient, title: str, **kw: str) -> str:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal is not None
    vid = str(client.portal.call(functools.partial(create_video, services, title, **kw)))
    client.portal.call(publish_fake, services, vid)
    return vid


def test_every_page_answers_the_security_headers(settings: Settings) -> None:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        create_account(c, "root", admin=True, scopes=("admin",), password="correct horse battery")
        vid = _video(c, "framed?", owner="root")
        anonymous = ["/", "/login", "/signup", f"/watch/{vid}", "/watch/AAAAAAAAAAAAAAAA",
                     "/no/such/page", "/?cursor=forged", f"/embed/{vid}",
                     "/embed/AAAAAAAAAAAAAAAA"]  # fmt: skip
        for path in anonymous:
            r = c.get(path, headers={"Accept": "text/html"})
            assert r.status_code in (200, 400, 404), (path, r.status_code)
            _assert_page_headers(r, path)
        # redirects to sign in carry them too (they are HTML-less, but cheap to check: nosniff)
        r = c.get("/account")
        assert r.status_code == 303 and r.headers["x-content-type-options"] == "nosniff"

        sign_up_session(c, "viewer", "correct horse battery")
        signed_in = ["/", "/me/videos", "/upload", f"/watch/{vid}", "/account", "/admin",
                     f"/embed/{vid}"]  # fmt: skip
        for path in signed_in:
            r = c.get(path)
            assert r.status_code in (200, 403), (path, r.status_code)  # /admin: not an admin
            _assert_page_headers(r, path)
        # form answers (a refused token form, a created token) are pages too
        csrf = csrf_of(c.get("/account").text)
        r = c.post("/account/tokens", data={"name": "t", "scopes": "read", "csrf_token": csrf})
        assert r.status_code == 303  # POST-redirect-GET: the page is the GET after it
        r = c.get("/account")
        assert 'id="new-token"' in r.text
        _assert_page_headers(r, "GET /account with the new token")
        c.cookies.clear()
        r = c.post("/login", data={"username": "viewer", "password": "x"})
        assert r.status_code == 403
        _assert_page_headers(r, "POST /login without its form token")


def test_the_api_static_files_and_media(client: TestClient) -> None:
    vid = _video(client, "media")
    for path in ("/api/v1/videos", f"/api/v1/videos/{vid}", "/api/v1/videos/nope", "/healthz",
                 "/static/app.css", "/static/watch.js", "/openapi.json"):  # fmt: skip
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert "content-security-policy" not in r.headers, path
        assert "x-frame-options" not in r.headers, path
    hls = client.get(f"/api/v1/videos/{vid}/playback").json()["hls_url"]
    media = client.get(hls)
    assert media.status_code == 200
    assert "content-security-policy" not in media.headers
    assert "x-content-type-options" not in media.headers  # delivery's headers, untouched


def test_swagger_ui_is_served_from_this_server_only(client: TestClient) -> None:
    """/docs works offline: every script, style and icon it loads is one of this server's
    files, its start-up script is a file too, and its policy allows no other origin."""
    r = client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == DOCS_POLICY
    assert r.headers["x-frame-options"] == "DENY"
    assert "http:" not in DOCS_POLICY and "https:" not in DOCS_POLICY and "*" not in DOCS_POLICY
    assert "script-src 'self';" in DOCS_POLICY  # no inline script, no CDN
    refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text)
    assert len(refs) >= 4, refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        assert client.get(ref).status_code == 200, ref
    assert "<script>" not in r.text and "cdn" not in r.text.lower()
    init = client.get("/static/swagger-init.js").text
    assert "/openapi.json" in r.text and "SwaggerUIBundle" in init
    assert "http" not in init.replace("validator.swagger.io", "")  # no URL but the one it disables
    # FastAPI's CDN pages are gone: ReDoc is not vendored, there is no OAuth2 flow
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path


def test_the_favicon(client: TestClient) -> None:
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text
    ico = client.get("/favicon.ico", follow_redirects=False)
    assert ico.status_code in (301, 308) and ico.headers["location"] == "/static/favicon.svg"
    page = client.get("/").text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        (None, None),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://Media.Example.com/", "https://media.example.com"),
        ("https://edge.example.com:8443/some/prefix", "https://edge.example.com:8443"),
    ],
)
def test_the_playback_origin_is_allowed_for_media_only(
    base_url: str | None, origin: str | None
) -> None:
    policy = _directives(page_policy(base_url))
    for name in ("connect-src", "media-src", "img-src"):
        assert (origin in policy[name]) if origin else policy[name].endswith(("'self'", "blob:"))
    for name in ("script-src", "style-src", "default-src", "form-action", "frame-ancestors"):
        assert "example" not in policy[name] and "8000" not in policy[name]


def test_only_the_player_pages_relax_style_and_only_the_embed_page_framing() -> None:
    strict = _directives(page_policy())
    player = _directives(page_policy(player=True))
    embed = _directives(page_policy(player=True, embed=True))
    assert strict["style-src"] == "style-src 'self'"
    assert player["style-src"] == embed["style-src"] == "style-src 'self' 'unsafe-inline'"
    assert strict["frame-ancestors"] == player["frame-ancestors"] == "frame-ancestors 'none'"
    assert embed["frame-ancestors"] == "frame-ancestors *"
    for name in strict:  # everything else as strict as every other page
        if name not in ("style-src", "frame-ancestors"):
            assert strict[name] == player[name] == embed[name], name


def test_signed_urls_on_another_origin_are_in_the_page_policy(settings: Settings) -> None:
    settings.public_base_url = "https://edge.example.com"
    with TestClient(create_app(settings)) as c:
        policy = _directives(c.get("/").headers["content-security-policy"])
        assert policy["connect-src"] == "connect-src 'self' https://edge.example.com"
        assert policy["media-src"] == "media-src 'self' blob: https://edge.example.com"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATE_DIR.glob("*.html")))
def test_templates_hold_nothing_the_policy_blocks(template: str) -> None:
    text = (Path(TEMPLATE_DIR) / template).read_text()
    for pattern, what in INLINE:
        assert not pattern.search(text), f"{template} has {what}"
