"""Stored XSS, checked in real Chromium: titles, file names and caption labels carrying
script (``<script>``, attribute breaks, ``</script>`` inside inline data, event handlers,
``javascript:`` URLs) are rendered on the library, watch, my-videos and admin pages, and no
script of theirs runs: ``window.__pwned`` stays undefined and no dialog opens.

Chromium talks to the package's in-process app: every request of the page (documents,
scripts, styles, playlists) is answered by the TestClient through ``page.route``, as the
signed-in caller of the case."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Dialog, Page, Route, sync_playwright

from reelstream.web.render import STATIC_DIR
from tests.browser.conftest import CHROMIUM_ARGS
from tests.hostile.conftest import World
from tests.hostile.test_media import process_all
from tests.processing.conftest import queue_video as queue_source
from tests.support import make_clip, require, require_binary
from tests.videos.factories import create_video, publish_fake

pytestmark = pytest.mark.browser

SITE = "http://testserver"  # the TestClient's host: the signed URLs the app builds name it
PAYLOADS: list[tuple[str, str]] = [
    ("script-tag", "<script>window.__pwned=1</script>"),
    ("attribute-break", '"><img src=x onerror="window.__pwned=1">'),
    ("single-quote-break", "'><svg onload=window.__pwned=1>"),
    ("close-inline-script", "</script><script>window.__pwned=1</script>"),
    ("template-braces", "{{7*7}}<img src=x onerror=window.__pwned=1>"),
    ("javascript-url", "javascript:window.__pwned=1//<a href=javascript:window.__pwned=1>x</a>"),
]
LANGS = ["en", "fr", "de", "es", "it", "pt"]
VTT = b"WEBVTT\n\n00:00.000 --> 00:01.000\n<b onmouseover=window.__pwned=1>hi</b>\n"


@pytest.fixture(scope="module")
def hostile_videos(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Per payload: a published public video whose title and file name are the payload; a
    transcoded video (``captions``) with one caption per payload as its label; and failed
    jobs of videos with hostile titles (the admin page lists them)."""
    ids = {}
    for name, payload in PAYLOADS:
        vid: str = world.run(create_video, world.services, f"xss {payload}")
        world.run(publish_fake, world.services, vid)
        ids[name] = vid
    folder = tmp_path_factory.mktemp("xss")
    clip = make_clip(folder / "clip.mp4", seconds=2, width=320, height=240, fps="25")
    captioned: str = world.run(queue_source, world.services, clip, title="xss captions")
    junk = folder / "junk.mp4"
    junk.write_bytes(b"not a video at all\n" * 100)
    for _, payload in PAYLOADS[:2]:
        world.run(queue_source, world.services, junk, title=f"xss failed {payload}")
    process_all(world)
    for lang, (_, payload) in zip(LANGS, PAYLOADS, strict=True):
        r = world.request(
            "POST",
            f"/api/v1/videos/{captioned}/captions",
            params={"lang": lang, "label": payload},
            content=VTT,
            headers={"Content-Type": "text/vtt"},
        )
        assert r.status_code == 201, r.text
    ids["captions"] = captioned
    return ids


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_binary("chromium")
    require((STATIC_DIR / "vendor" / "hls.min.js").is_file(), "web/static/vendor (make assets)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Browser, world: World, who: str | None) -> Page:
    context = browser.new_context()
    page = context.new_page()
    logs: list[str] = []
    page.logs = logs  # type: ignore[attr-defined]
    page.on("console", lambda m: logs.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: logs.append(f"failed: {r.url}"))

    def on_dialog(dialog: Dialog) -> None:
        page.dialog_seen = dialog.message  # type: ignore[attr-defined]
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def answer(route: Route) -> None:
        request = route.request
        parts = urlsplit(request.url)
        if f"{parts.scheme}://{parts.netloc}" != SITE:
            route.abort()  # nothing leaves for another host
            return
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        r = world.client.request(
            request.method,
            path,
            headers={**headers, **world.headers(who)},
            content=request.post_data_buffer,
            follow_redirects=False,
        )
        assert r.status_code < 500, (path, r.status_code, r.text[:300])
        sent = {
            k: v
            for k, v in r.headers.items()
            if k.lower() not in {"content-length", "content-encoding", "transfer-encoding"}
        }
        route.fulfill(status=r.status_code, headers=sent, body=r.content)

    page.route("**/*", answer)
    return page


PAGES = ["library", "watch", "my-videos", "admin"]


@pytest.mark.parametrize("payload", [pytest.param(p[0], id=p[0]) for p in PAYLOADS])
@pytest.mark.parametrize("where", PAGES)
def test_no_script_runs(
    intact: World, hostile_videos: dict[str, str], browser: Browser, where: str, payload: str
) -> None:
    vid = hostile_videos[payload]
    who, path = {
        "library": (None, "/?q=xss"),
        "watch": (None, f"/watch/{vid}"),
        "my-videos": ("owner", "/me/videos?q=xss"),
        "admin": ("admin", "/admin"),
    }[where]
    page = open_page(browser, intact, who)
    try:
        response = page.goto(SITE + path, wait_until="load")
        assert response is not None and response.status == 200
        page.wait_for_timeout(100)
        if where == "watch":
            page.hover("body")
        assert page.evaluate("() => typeof window.__pwned") == "undefined"
        assert getattr(page, "dialog_seen", None) is None
        text = page.inner_text("body")
        if where != "admin":
            assert "window.__pwned" in text  # the payload is shown, as text
    finally:
        page.context.close()


def test_no_script_runs_from_caption_labels(
    intact: World, hostile_videos: dict[str, str], browser: Browser
) -> None:
    page = open_page(browser, intact, None)
    try:
        response = page.goto(SITE + f"/watch/{hostile_videos['captions']}", wait_until="load")
        assert response is not None and response.status == 200
        # the player's captions menu (media-chrome) lists the hostile labels as text
        items = "#captions-menu media-chrome-menu-item"
        try:
            page.wait_for_function(
                "() => Array.from(document.querySelector('video').textTracks)"
                ".filter(t => t.kind === 'subtitles').length > 0",
                timeout=20_000,
            )
            page.mouse.move(600, 300)
            page.locator("#captions-button").click()
            page.locator(items).nth(1).wait_for(timeout=20_000)  # (in the menu's shadow root)
        except Exception:
            pytest.fail("the caption tracks never showed: " + "\n".join(page.logs))  # type: ignore[attr-defined]
        for option in page.locator(items).all():
            option.hover() if option.is_visible() else None
        page.wait_for_timeout(100)
        assert page.evaluate("() => typeof window.__pwned") == "undefined"
        assert getattr(page, "dialog_seen", None) is None
        labels = page.locator(items).all_inner_texts()
        assert any("window.__pwned" in label for label in labels), labels
    finally:
        page.context.close()
