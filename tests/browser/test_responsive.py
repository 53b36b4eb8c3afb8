"""Every page at phone width (390x844) in real Chromium, signed out and signed in (as the
admin, whose header has the most links): nothing wider than the viewport, the nav folded
behind a menu button that opens it, with links big enough to touch. Then the watch page as
viewers see it: uploader, description, relative date, Share with a working Copy button, and
no processing stages for a viewer of a video that is not ready while its owner has them.

``PAGES`` is the list of pages checked: other features add theirs (studio, embed).
One server and one short ready video for the whole module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.test_csp_browser import _admin_password
from tests.support import Server, make_clip, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]

PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class PageCase:
    name: str
    path: str  # "{video}": the module's ready video
    nav: bool = True  # the site header with its menu (the embed page has none)


PAGES: list[PageCase] = [
    PageCase("library", "/"),
    PageCase("watch", "/watch/{video}"),
    PageCase("upload", "/upload"),
    PageCase("my videos", "/me/videos"),
    PageCase("account", "/account"),
    PageCase("admin", "/admin"),
    PageCase("admin users", "/admin/users"),
    PageCase("studio", "/studio/{video}"),
    PageCase("studio: delete", "/studio/{video}/delete"),
    PageCase("embed", "/embed/{video}", nav=False),
    PageCase("login", "/login"),
    PageCase("signup", "/signup"),
    PageCase("error page", "/watch/AAAAAAAAAAAAAAAA"),
]

# Elements past the viewport's right edge that the user can see: not hidden, not zero-sized,
# not clipped by a scrolling (or clipping) ancestor that itself fits.
OVERFLOW_JS = """
() => {
  const vw = document.documentElement.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const clipped = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox !== 'visible' && a.getBoundingClientRect().right <= vw + 0.5) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= vw + 0.5) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.display === 'none' || cs.opacity === '0') continue;
    if (clipped(el)) continue;
    out.push(name(el) + ' right=' + Math.round(r.right));
  }
  return {scrollWidth: document.documentElement.scrollWidth, vw: vw, out: out.slice(0, 10)};
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("responsive") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def video(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2 s ready video with a long unbroken title and a multi-line description."""
    from tests.browser.conftest import tus_upload

    clip = make_clip(
        tmp_path_factory.mktemp("clip") / "short.mp4", seconds=2, width=320, height=180
    )
    vid = tus_upload(server, clip, "A-very-long-title-without-any-spaces-" * 3)
    video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=120)
    assert video["status"] == "ready", f"{video}\n{server.log()}"
    description = "First line of the description\nsecond line " + "https://example.org/" + "x" * 120
    r = httpx.patch(
        f"{server.base_url}/api/v1/videos/{vid}",
        json={"description": description},
        headers=server.headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return vid


def _context(browser: Browser, **kwargs: object) -> BrowserContext:
    return browser.new_context(viewport=PHONE, **kwargs)  # type: ignore[arg-type]


def _sign_in_admin(page: Page, server: Server) -> None:
    page.goto(f"{server.base_url}/login")
    page.fill("#username", "admin")
    page.fill("#password", _admin_password(server))
    page.click("#login-button")
    page.wait_for_url(f"{server.base_url}/")


def _assert_fits(page: Page, label: str) -> None:
    found = page.evaluate(OVERFLOW_JS)
    assert found["scrollWidth"] <= PHONE["width"], f"{label}: {found}"
    assert not found["out"], f"{label}: past the right edge: {found['out']}"


def _assert_nav_opens(page: Page, label: str) -> None:
    button = page.locator("#nav-button")
    nav = page.locator("#site-nav")
    assert button.is_visible(), f"{label}: no menu button at phone width"
    assert not nav.is_visible(), f"{label}: the nav is not folded"
    box = button.bounding_box()
    assert box is not None and box["height"] >= 40, f"{label}: menu button {box}"
    button.click()
    assert nav.is_visible(), f"{label}: the menu button does not open the nav"
    links = nav.locator("a, button")
    assert links.count() >= 2
    for i in range(links.count()):
        link = links.nth(i)
        assert link.is_visible(), f"{label}: nav item {i} hidden"
        item = link.bounding_box()
        assert item is not None and item["height"] >= 40, f"{label}: nav item {i}: {item}"
        assert item["x"] + item["width"] <= PHONE["width"] + 0.5, f"{label}: nav item {i}: {item}"
        link.click(trial=True)  # actionable: visible, stable, not covered
    _assert_fits(page, f"{label} (nav open)")


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed-out", "signed-in"])
def test_every_page_fits_a_phone(
    browser: Browser, server: Server, video: str, signed_in: bool
) -> None:
    context = _context(browser)
    try:
        page = context.new_page()
        if signed_in:
            _sign_in_admin(page, server)
        for case in PAGES:
            label = f"{case.name} ({'signed in' if signed_in else 'signed out'})"
            page.goto(server.base_url + case.path.format(video=video))
            page.wait_for_load_state("load")
            _assert_fits(page, label)
            if case.nav:
                _assert_nav_opens(page, label)
        # a nav link works: the menu's Library link leads to the library
        page.goto(f"{server.base_url}/upload")
        page.click("#nav-button")
        page.locator("#site-nav").get_by_role("link", name="Library").click()
        page.wait_for_url(f"{server.base_url}/")
    finally:
        context.close()


def test_the_watch_page_as_viewers_see_it(browser: Browser, server: Server, video: str) -> None:
    base = server.base_url
    context = _context(browser, permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(f"{base}/watch/{video}")
        assert page.locator("#video-uploader").inner_text() == "by admin"
        when = page.locator("#video-date")
        assert re.fullmatch(r"just now|\d+ minutes? ago", when.inner_text())
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", when.get_attribute("title") or "")
        assert "second line" in page.locator("#description-full").inner_text()
        assert page.locator("#rendition-list").count() == 0  # not for viewers
        assert page.locator("#timeline").count() == 0
        assert page.locator("#edit-link").count() == 0
        share = page.locator("#share-url").input_value()
        assert share == f"{base}/watch/{video}"
        page.click("#copy-url")
        page.wait_for_function("() => document.getElementById('copy-url').textContent === 'Copied'")
        assert page.evaluate("() => navigator.clipboard.readText()") == share
        embed = page.locator("#embed-code").input_value()
        assert embed.startswith(f'<iframe src="{base}/embed/{video}"')
        page.click("#copy-embed")
        page.wait_for_function(
            "() => document.getElementById('copy-embed').textContent === 'Copied'"
        )
        assert page.evaluate("() => navigator.clipboard.readText()") == embed
    finally:
        context.close()


def test_processing_stages_are_for_the_owner_only(
    browser: Browser, server: Server, video: str
) -> None:
    """A video that is not ready yet (its upload is under way): a viewer sees the "being
    prepared" overlay and no stage list; its owner (an admin here) sees the stages."""
    r = httpx.post(
        f"{server.base_url}/api/v1/uploads",
        headers={
            **server.headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "1000",
            "Upload-Metadata": "filename c2hvcnQubXA0,title d2FpdGluZw==",
        },
        timeout=10,
    )
    assert r.status_code == 201, r.text
    head = httpx.head(
        r.headers["location"]
        if r.headers["location"].startswith("http")
        else server.base_url + r.headers["location"],
        headers={**server.headers, "Tus-Resumable": "1.0.0"},
        timeout=10,
    )
    pending = head.headers["video-id"]
    url = f"{server.base_url}/watch/{pending}"
    viewer = _context(browser)
    try:
        page = viewer.new_page()
        failures: list[str] = []
        page.on("pageerror", lambda e: failures.append(str(e)))
        with page.expect_response(re.compile(rf"/api/v1/videos/{pending}$")):
            page.goto(url)  # and the script's first status poll, without the sections
        assert page.locator("#player-overlay").is_visible()
        assert page.locator("#timeline").count() == 0 and page.locator(".stage").count() == 0
        assert not failures, failures
    finally:
        viewer.close()
    owner = _context(browser)
    try:
        page = owner.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _sign_in_admin(page, server)
        page.goto(url)
        page.wait_for_selector("#timeline-stages .stage", timeout=15_000)
        assert page.locator("#timeline-stages .stage").count() >= 1
        assert not errors, errors
    finally:
        owner.close()
