"""Open redirects: the ``next`` of the sign-in and sign-up pages. Whatever is asked for, the
form carries a local path back, and the redirect the server answers after signing in (built
from that value) stays on the site."""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

import pytest
from starlette.responses import RedirectResponse

from reelstream.web.account import _safe_next
from tests.hostile.conftest import World

SITE = "https://video.example/login"

NEXTS: list[tuple[str, str]] = [
    ("protocol-relative", "//evil.example"),
    ("protocol-relative-path", "//evil.example/watch/x"),
    ("absolute-https", "https://evil.example/"),
    ("scheme-without-slashes", "http:evil.example"),
    ("slash-backslash", "/\\evil.example"),
    ("backslashes", "\\\\evil.example"),
    ("javascript", "javascript:alert(document.cookie)"),
    ("data-url", "data:text/html,<script>alert(1)</script>"),
    ("triple-slash", "///evil.example"),
    ("tab-between-slashes", "/\t/evil.example"),
    ("newline-between-slashes", "/\n/evil.example"),
    ("leading-space", " //evil.example"),
    ("userinfo", "//video.example@evil.example"),
    ("mixed-slashes", "https:/\\evil.example"),
]


def stays_on_site(location: str) -> bool:
    return urlsplit(urljoin(SITE, location)).netloc == "video.example"


@pytest.mark.parametrize("target", [pytest.param(c[1], id=c[0]) for c in NEXTS])
@pytest.mark.parametrize("page", ["/login", "/signup"])
def test_next_never_leaves_the_site(intact: World, page: str, target: str) -> None:
    r = intact.request("GET", f"{page}?next={quote(target, safe='')}", None)
    assert r.status_code == 200, r.text[:300]
    field = re.search(r'name="next" value="([^"]*)"', r.text)
    assert field is not None
    assert "evil.example" not in field.group(1) or field.group(1).startswith("/")
    # what the server answers once signed in with that value (the form sends it back)
    location = RedirectResponse(_safe_next(target), status_code=303).headers["location"]
    assert stays_on_site(location), location
    assert not location.lower().startswith(("javascript:", "data:"))
