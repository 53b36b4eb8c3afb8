"""Headless Chromium in the studio (``/studio/{id}``): every action from a real browser on one
server and one short ready video (3 s, a 240p-only ladder), uploaded from the upload page as
Private with a description.

In order, in one owner's session: the upload page's choices reach the API; the details form
(then the API and the watch page show the change); a caption track uploaded, refused with its
reason, and removed; a poster picked from the storyboard (the job is queued, the page says
"Poster updating…" and shows the new image when it is done); who else may open the studio;
a file that is not a video says it can never work instead of offering a retry; replacing the
source (same id, the current version ready meanwhile); deleting with the confirmation step
(then 404)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import (  # noqa: F401  (fixtures)
    _logs,
    browser,
    log_in,
    sign_up,
)
from tests.browser.test_csp_browser import RECORD_VIOLATIONS, _violations
from tests.support import ADMIN_HEADERS, Server, make_clip, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]

STUDIO = re.compile(r"/studio/([A-Za-z0-9]{16})(\?done=[a-z-]+)?$")
VTT = "WEBVTT\n\n00:00.000 --> 00:01.500\nHello from the studio\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("studio") / "data"
    with run_server(data, ladder='[{"height": 240, "video_kbps": 300}]') as s:
        yield s


@pytest.fixture(scope="module")
def owner(browser: Browser, server: Server) -> Iterator[Page]:  # noqa: F811
    """The owner's page, signed in once for the whole module."""
    context: BrowserContext = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    logs: list[str] = []
    page.on("console", lambda m: logs.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
    page.reelstream_logs = logs  # type: ignore[attr-defined]
    page.add_init_script(RECORD_VIOLATIONS)  # the CSP: no violation on the studio's pages
    sign_up(server, "owner")
    log_in(page, server, "owner")
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def video_id(owner: Page, server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Uploaded from the upload page: Private, with a description; then ready."""
    clip = make_clip(tmp_path_factory.mktemp("clips") / "short.mp4", seconds=3, width=320,
                     height=240)  # fmt: skip
    owner.goto(f"{server.base_url}/upload")
    owner.set_input_files("#file", str(clip))
    owner.fill("#title", "Studio clip")
    owner.fill("#description", "First words")
    owner.select_option("#visibility", "private")
    owner.click("#upload-button")
    owner.wait_for_selector("#upload-done", state="visible", timeout=60_000)
    watch = owner.get_attribute("#watch-link", "href")
    studio = owner.get_attribute("#studio-link", "href")
    assert watch and studio and watch.startswith("/watch/"), (watch, studio)
    vid = watch.rsplit("/", 1)[1]
    assert studio == f"/studio/{vid}"
    video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=120)
    assert video["status"] == "ready", f"{video}\n{server.log()}"
    assert (video["visibility"], video["description"]) == ("private", "First words")
    return vid


def api(page: Page, server: Server, path: str) -> Any:
    r = page.request.get(f"{server.base_url}/api/v1/videos/{path}")
    assert r.ok, r.text()
    return r.json()


def test_edit_captions_and_poster(
    owner: Page, server: Server, video_id: str, tmp_path: Path
) -> None:
    base, vid = server.base_url, video_id
    # a phone: nothing in the studio's pages sticks out, nor does the page
    owner.set_viewport_size({"width": 390, "height": 844})
    for path in (f"/studio/{vid}", f"/studio/{vid}/delete"):
        owner.goto(f"{base}{path}")
        wide = owner.evaluate(
            "() => Array.from(document.querySelectorAll('#main *'))"
            ".filter(e => e.getBoundingClientRect().right > 390.5)"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
        )
        assert not wide, (path, wide)
        assert owner.evaluate("() => document.documentElement.scrollWidth") <= 390, path
    owner.set_viewport_size({"width": 1200, "height": 900})
    owner.goto(f"{base}/studio/{vid}")
    assert owner.locator("#visibility-private").is_checked()

    # details: title, description, visibility; POST-redirect-GET with a notice
    owner.fill("#edit-title", "Renamed in the studio")
    owner.fill("#edit-description", "Now with a longer description.")
    owner.check("#visibility-unlisted")
    owner.click("#edit-save")
    owner.wait_for_url(f"{base}/studio/{vid}?done=saved")
    assert owner.locator("#page-notice").inner_text() == "Saved."
    video = api(owner, server, vid)
    assert (video["title"], video["description"], video["visibility"]) == (
        "Renamed in the studio",
        "Now with a longer description.",
        "unlisted",
    )
    # refused: the reason next to the form, status 422, nothing changed
    owner.fill("#edit-title", "   ")
    owner.evaluate("() => document.getElementById('edit-title').removeAttribute('required')")
    with owner.expect_navigation() as nav:
        owner.click("#edit-save")
    assert nav.value is not None and nav.value.status == 422
    assert "1 to 300 characters" in owner.locator("#edit-error").inner_text()
    assert api(owner, server, vid)["title"] == "Renamed in the studio"
    owner.goto(f"{base}/watch/{vid}")
    assert owner.locator("#video-title").inner_text() == "Renamed in the studio"

    # captions: upload, a refusal with its reason, removal
    owner.goto(f"{base}/studio/{vid}")
    vtt = tmp_path / "english.vtt"
    vtt.write_text(VTT)
    owner.set_input_files("#caption-file", str(vtt))
    owner.fill("#caption-lang", "en")
    owner.fill("#caption-label", "English")
    owner.click("#caption-upload")
    owner.wait_for_url(f"{base}/studio/{vid}?done=caption-added")
    row = owner.locator('#caption-list tr[data-lang="en"]')
    assert "English" in row.inner_text()
    listed = api(owner, server, f"{vid}/captions")["items"]
    assert [(c["lang"], c["label"]) for c in listed] == [("en", "English")]
    wrong = tmp_path / "notes.txt"
    wrong.write_text(VTT)
    owner.set_input_files("#caption-file", str(wrong))
    owner.fill("#caption-lang", "de")
    with owner.expect_navigation() as nav:
        owner.click("#caption-upload")
    assert nav.value is not None and nav.value.status == 422
    assert "is not a .vtt or .srt file" in owner.locator("#caption-error").inner_text()
    row.locator("button.caption-remove").click()
    owner.wait_for_url(f"{base}/studio/{vid}?done=caption-removed")
    assert owner.locator("#caption-list").count() == 0
    assert api(owner, server, f"{vid}/captions")["items"] == []

    # poster: thumbnails cropped from the storyboard sprite; a click queues the poster job
    before = api(owner, server, vid)["poster_url"]
    thumbs = owner.locator("#storyboard-grid .storyboard-thumb")
    thumbs.first.wait_for(timeout=15_000)
    assert thumbs.count() >= 2
    crop = owner.evaluate(
        "() => { const t = document.querySelectorAll('#storyboard-grid .tile')[1];"
        " return [t.style.backgroundImage, t.style.backgroundPosition]; }"
    )
    assert "sb_001.jpg" in crop[0] and crop[1] != "0px 0px", crop  # the second tile, cropped
    at = float(thumbs.nth(1).get_attribute("data-at") or "nan")
    thumbs.nth(1).click()
    owner.wait_for_url(f"{base}/studio/{vid}?done=poster")
    assert "New poster requested" in owner.locator("#page-notice").inner_text()
    if owner.locator("#poster-pending").is_visible():  # the job had not run yet: the page
        owner.wait_for_function(  # polls, then shows the new poster
            "() => window.reelstreamStudio.posterState === 'done'", timeout=60_000
        )
        assert owner.locator("#poster-pending").is_hidden()
    after = before
    for _ in range(120):  # the job publishes a poster with a new file name
        after = api(owner, server, vid)["poster_url"]
        if after.rsplit("/", 1)[1] != before.rsplit("/", 1)[1]:
            break
        owner.wait_for_timeout(500)
    else:
        pytest.fail(f"the poster never changed\n{server.log()}")
    owner.reload()
    name = after.rsplit("/", 1)[1]
    assert (owner.get_attribute("#current-poster", "src") or "").endswith("/" + name)
    assert owner.locator("#poster-pending").is_hidden()
    assert at == pytest.approx(1.0)
    assert "pageerror" not in _logs(owner)
    assert not _violations(owner), _violations(owner)


def test_only_the_owner_and_admins_get_in(
    owner: Page,
    browser: Browser,  # noqa: F811
    server: Server,
    video_id: str,
) -> None:
    base, vid = server.base_url, video_id
    sign_up(server, "someone")
    context = browser.new_context()
    try:
        other = context.new_page()
        response = other.goto(f"{base}/studio/{vid}")  # anonymous: sign in first
        assert response is not None and response.url.endswith(f"/login?next=%2Fstudio%2F{vid}")
        log_in(other, server, "someone", next_path=f"/studio/{vid}")
        # after sign-in: the studio of someone else's video is a 403 page
        assert "You cannot manage this video" in other.content()
        csrf = other.get_attribute('meta[name="csrf-token"]', "content")
        assert csrf
        for path, form in (
            ("", {"title": "hijacked"}),
            ("/poster", {"at_s": "0"}),
            ("/captions/en/delete", {}),
            ("/delete", {"confirm": "yes"}),
        ):
            r = other.request.post(f"{base}/studio/{vid}{path}", form={**form, "csrf_token": csrf})
            assert r.status == 403, (path, r.status)
        r = other.request.post(
            f"{base}/studio/{vid}/captions",
            multipart={
                "csrf_token": csrf,
                "lang": "en",
                "file": {"name": "x.vtt", "mimeType": "text/vtt", "buffer": VTT.encode()},
            },
        )
        assert r.status == 403
        assert api(owner, server, vid)["title"] != "hijacked"
    finally:
        context.close()
    admin = browser.new_context(extra_http_headers=ADMIN_HEADERS)
    try:
        page = admin.new_page()
        response = page.goto(f"{base}/studio/{vid}")
        assert response is not None and response.status == 200
        assert page.locator("#edit-form").is_visible()
        assert page.locator("#replace-owner-only").is_visible()  # a new source: the owner's
    finally:
        admin.close()


def test_a_file_that_is_not_a_video_says_it_can_never_work(
    owner: Page, server: Server, tmp_path: Path
) -> None:
    base = server.base_url
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"this is a text file, not a video\n" * 200)
    owner.goto(f"{base}/upload")
    owner.set_input_files("#file", str(junk))
    owner.click("#upload-button")
    owner.wait_for_selector("#upload-done", state="visible", timeout=60_000)
    vid = (owner.get_attribute("#studio-link", "href") or "").rsplit("/", 1)[1]
    video = wait_for_status(base, vid, {"failed", "ready"}, timeout=60)
    assert video["status"] == "failed", video
    owner.goto(f"{base}/studio/{vid}")
    owner.wait_for_function(
        "() => window.reelstreamTimeline && window.reelstreamTimeline.last !== null"
    )
    timeline = owner.evaluate("() => window.reelstreamTimeline.last")
    assert timeline["retryable"] is False and timeline["retry"]["video"] is False
    assert owner.locator("#retry-permanent").is_visible()
    assert "Retrying will not help" in owner.locator("#retry-permanent").inner_text()
    assert "replace this video's source" in owner.locator("#retry-permanent").inner_text()
    assert owner.locator("#retry-box").is_hidden()  # no button that would do nothing
    assert video["error"] in owner.locator("#studio-failure").inner_text()


def test_replace_the_source(owner: Page, server: Server, video_id: str, tmp_path: Path) -> None:
    base, vid = server.base_url, video_id
    before = api(owner, server, vid)
    longer = make_clip(tmp_path / "longer.mp4", seconds=4, width=320, height=240)
    owner.goto(f"{base}/studio/{vid}")
    owner.set_input_files("#replace-file", str(longer))
    owner.click("#replace-button")
    owner.wait_for_function(
        "() => window.reelstreamStudio.replaced === 'uploaded'"
        " || window.reelstreamStudio.replaced === 'failed'",
        timeout=60_000,
    )
    assert owner.locator("#replace-error").is_hidden(), owner.locator("#replace-error").inner_text()
    assert "the current one keeps playing" in owner.locator("#replace-message").inner_text()
    now = before
    for _ in range(240):  # the new version is published under the same id, in one switch
        now = api(owner, server, vid)
        assert now["status"] == "ready", now  # the current version plays meanwhile
        if abs((now["duration_s"] or 0) - 4) < 0.5:
            break
        owner.wait_for_timeout(500)
    else:
        pytest.fail(f"the new version was never published: {now}\n{server.log()}")
    assert (now["id"], now["title"]) == (before["id"], before["title"])
    assert abs(before["duration_s"] - 3) < 0.5


def test_delete_with_confirmation(owner: Page, server: Server, video_id: str) -> None:
    base, vid = server.base_url, video_id
    owner.goto(f"{base}/studio/{vid}")
    owner.click("#delete-link")
    owner.wait_for_url(f"{base}/studio/{vid}/delete")
    owner.click("#delete-submit")  # the box is not ticked: the browser keeps the form
    assert owner.url == f"{base}/studio/{vid}/delete"
    assert api(owner, server, vid)["id"] == vid
    owner.check("#delete-confirm")
    owner.click("#delete-submit")
    owner.wait_for_url(f"{base}/me/videos?notice=deleted")
    assert owner.locator("#page-notice").inner_text() == "The video was deleted."
    response = owner.goto(f"{base}/watch/{vid}")
    assert response is not None and response.status == 404
    assert owner.request.get(f"{base}/api/v1/videos/{vid}").status == 404
    assert not _violations(owner) and "pageerror" not in _logs(owner), _logs(owner)
