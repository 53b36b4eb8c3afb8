"""Headless Chromium against a real server: the watch page really plays, the upload page
really uploads (tus-js-client), through a dropped connection too."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route

from tests.browser.conftest import (
    WATCH_URL,
    _logs,
    sign_in_admin,
    signed_in,
    tus_upload,
    upload_ready,
    wait_playing,
)
from tests.support import Server, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCREENSHOT = Path("/tmp/reelstream-watch.png")


def _source(server: Server, video_id: str) -> bytes:
    return (server.data_dir / "storage" / "videos" / video_id / "source").read_bytes()


def test_watch_page_plays_the_video_with_hls_js(page: Page, clip: Path, tmp_path: Path) -> None:
    with run_server(tmp_path / "data") as server:
        vid, video = upload_ready(server, clip, "Test pattern <6 s>")
        renditions: list[dict[str, Any]] = video["renditions"]  # type: ignore[assignment]
        heights = sorted({r["height"] for r in renditions if r["ready"]}, reverse=True)
        assert heights

        page.goto(f"{server.base_url}/watch/{vid}")
        assert page.title() == "Test pattern <6 s> · reelstream"
        wait_playing(page, server)
        page.screenshot(path=str(SCREENSHOT))

        player: dict[str, Any] = page.evaluate(
            """() => {
                const p = window.reelstreamPlayer;
                const v = document.querySelector('video');
                return {
                    fatal: p.fatalError,
                    levels: p.hls.levels.map(l => l.height),
                    paused: v.paused,
                    width: v.videoWidth,
                    decoded: v.getVideoPlaybackQuality().totalVideoFrames,
                };
            }"""
        )
        assert player["fatal"] is None, _logs(page)
        assert sorted(player["levels"], reverse=True) == heights
        assert not player["paused"]
        assert player["width"] > 0 and player["decoded"] > 30

        # the quality menu of the player's control bar lists every rendition, best first
        page.mouse.move(600, 300)
        page.locator("#quality-button").click()
        items = page.locator("#quality-menu media-chrome-menu-item").all_inner_texts()
        options = [t.strip() for t in items]
        assert options[:-1] == [f"{h}p" for h in heights] and options[-1].startswith("Auto")
        label = page.locator("#current-rendition").inner_text()
        assert re.fullmatch(r"Auto · \d+p · [\d.]+ (Mbps|kbps)", label), label
        assert page.locator("#player-overlay").is_hidden()

        # Choosing another quality really switches rendition, and the label follows. (Paused
        # first: the clip is short and must not end before the new rendition is buffered.)
        page.evaluate("() => document.querySelector('video').pause()")
        playing = int(label.split(" · ")[1].removesuffix("p"))
        other = next((h for h in heights if h != playing), playing)
        page.locator("#quality-menu media-chrome-menu-item").filter(
            has_text=re.compile(rf"^\s*{other}p\s*$")
        ).click()
        page.wait_for_function(
            "h => document.getElementById('current-rendition').textContent.startsWith(h + 'p')",
            arg=other,
            timeout=30_000,
        )
        switched = page.evaluate(
            "() => window.reelstreamPlayer.hls.levels[window.reelstreamPlayer.hls.currentLevel]"
            ".height"
        )
        assert switched == other
        assert page.evaluate("() => window.reelstreamPlayer.fatalError") is None


def _upload_through_page(page: Page, server: Server, path: Path, title: str) -> str:
    page.goto(f"{server.base_url}/upload")
    assert page.locator("#pause-button").is_hidden()
    assert page.locator("#upload-status").is_hidden()
    page.set_input_files("#file", str(path))
    page.fill("#title", title)
    page.click("#upload-button")
    try:  # once done, the upload page links to the watch page (and to the studio)
        page.click("#watch-link", timeout=120_000)
        page.wait_for_url(WATCH_URL, timeout=30_000)
    except Exception:
        error = page.locator("#upload-error").inner_text()
        pytest.fail(f"no link to the watch page; error box: {error!r}\n{_logs(page)}")
    match = WATCH_URL.search(page.url)
    assert match
    return match.group(1)


def test_upload_page_uploads_with_tus_js_client(page: Page, clip: Path, tmp_path: Path) -> None:
    with run_server(tmp_path / "data", embedded_workers=False) as server:
        signed_in(page, server)
        vid = _upload_through_page(page, server, clip, "From the <browser>")

        assert _source(server, vid) == clip.read_bytes()
        url = f"{server.base_url}/api/v1/videos/{vid}"
        video = httpx.get(url, headers=server.headers, timeout=10).json()  # as an admin
        assert video["title"] == "From the <browser>"
        assert video["filename"] == clip.name
        # the original file name is the owner's business: withheld from viewers
        assert httpx.get(url, timeout=10).json()["filename"] == ""
        assert video["status"] == "queued"  # no workers on this server
        page.wait_for_load_state()
        assert page.locator("#video-title").inner_text() == "From the <browser>"
        page.wait_for_function(
            "() => document.getElementById('status-badge').textContent === 'queued'"
        )


def test_upload_page_survives_a_dropped_connection(page: Page, tmp_path: Path) -> None:
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(12 * 1024 * 1024))  # 3 chunks of 5 MiB; bytes are not checked yet
    dropped: list[str] = []

    def drop_second_patch(route: Route) -> None:
        request = route.request
        if (
            request.method == "PATCH"
            and not dropped
            and request.headers.get("upload-offset") != "0"
        ):
            dropped.append(request.headers["upload-offset"])
            route.abort("connectionreset")
        else:
            route.continue_()

    with run_server(tmp_path / "data", embedded_workers=False) as server:
        signed_in(page, server)
        page.route(re.compile(r".*/api/v1/uploads/.*"), drop_second_patch)
        vid = _upload_through_page(page, server, source, "dropped once")
        assert dropped, "the test never dropped a request"
        assert _source(server, vid) == source.read_bytes()


def test_watch_page_follows_processing_then_plays_without_reload(
    page: Page, clip: Path, tmp_path: Path
) -> None:
    with run_server(tmp_path / "data") as server:
        vid = tus_upload(server, clip, "watch me process")
        sign_in_admin(page, server)  # the renditions and the timeline are for owner and admins
        page.goto(f"{server.base_url}/watch/{vid}")
        page.evaluate("() => { window.sameDocument = true; }")
        if page.get_attribute("#watch", "data-status") != "ready":
            # Still processing when the page was rendered: status shown over the player until
            # the video is playable (a growing first rung plays while the rest is processed).
            # (rendered playable, the player starts as soon as its module scripts ran)
            page.wait_for_function(
                "() => (window.reelstreamPlayer && window.reelstreamPlayer.started)"
                " || !document.getElementById('player-overlay').hidden",
                timeout=30_000,
            )
            assert page.locator("#status-badge").text_content() in {"queued", "processing", "ready"}
        video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=300)
        assert video["status"] == "ready", f"{video}\n{server.log()}"
        page.wait_for_function(
            "() => document.querySelector('video').currentTime > 1", timeout=90_000
        )
        assert page.evaluate("() => window.sameDocument") is True  # no reload happened
        assert page.evaluate("() => window.reelstreamPlayer.fatalError") is None
        assert page.locator("#player-overlay").is_hidden()
        renditions: list[dict[str, Any]] = video["renditions"]
        # the page's next status poll (every 2 s) lists every rung, without a reload
        page.wait_for_function(
            "n => document.querySelectorAll('#rendition-list li').length === n",
            arg=len(renditions),
            timeout=30_000,
        )
        assert page.evaluate("() => window.sameDocument") is True


def test_watch_page_shows_why_processing_failed(page: Page, tmp_path: Path) -> None:
    junk = tmp_path / "not-a-video.mp4"
    junk.write_bytes(os.urandom(256 * 1024))
    with run_server(tmp_path / "data") as server:
        vid = tus_upload(server, junk, "junk")
        sign_in_admin(page, server)  # why it failed: for the owner and admins only
        page.goto(f"{server.base_url}/watch/{vid}")
        video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=120)
        assert video["status"] == "failed", video
        assert video["error"]
        failure = page.locator("#failure")
        failure.wait_for(state="visible", timeout=30_000)
        assert failure.inner_text() == video["error"]
        assert page.locator("#status-badge").text_content() == "failed"
        assert page.locator("#processing-progress").is_hidden()


def _my_videos(page: Page) -> list[dict[str, Any]]:
    """The signed-in page's own videos, every status (``?owner=me``, with its session)."""
    items: list[dict[str, Any]] = page.evaluate(
        "() => fetch('/api/v1/videos?owner=me').then(r => r.json()).then(j => j.items)"
    )
    return items


def test_upload_page_resumes_after_a_reload(page: Page, tmp_path: Path) -> None:
    source = tmp_path / "resume.mp4"
    source.write_bytes(os.urandom(12 * 1024 * 1024))  # 3 chunks of 5 MiB
    held: list[Route] = []

    def stall_after_first_chunk(route: Route) -> None:
        offset = route.request.headers.get("upload-offset")
        if route.request.method == "PATCH" and offset not in (None, "0"):
            held.append(route)  # never answered: the upload hangs like a dead network
        else:
            route.continue_()

    with run_server(tmp_path / "data", embedded_workers=False) as server:
        signed_in(page, server)
        page.route(re.compile(r".*/api/v1/uploads/.*"), stall_after_first_chunk)
        page.goto(f"{server.base_url}/upload")
        page.set_input_files("#file", str(source))
        page.click("#upload-button")
        for _ in range(600):  # the route handler runs while Playwright waits
            if held:
                break
            page.wait_for_timeout(100)
        assert held, "the second chunk was never sent"
        listed = _my_videos(page)
        assert len(listed) == 1
        vid = listed[0]["id"]

        page.unroute(re.compile(r".*/api/v1/uploads/.*"))
        page.reload()
        page.set_input_files("#file", str(source))
        page.click("#upload-button")
        page.click("#watch-link", timeout=120_000)
        page.wait_for_url(WATCH_URL, timeout=30_000)
        assert page.url.endswith(f"/watch/{vid}"), "the reload started a new upload"
        assert _source(server, vid) == source.read_bytes()
        assert [v["id"] for v in _my_videos(page)] == [vid]  # one video: the upload resumed


def test_upload_page_shows_the_server_reason_on_refusal(page: Page, tmp_path: Path) -> None:
    source = tmp_path / "too-big.mp4"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    with run_server(tmp_path / "data", embedded_workers=False, max_upload_bytes=2**21) as server:
        direct = httpx.post(
            f"{server.base_url}/api/v1/uploads",
            headers={
                **server.headers,
                "Tus-Resumable": "1.0.0",
                "Upload-Length": str(source.stat().st_size),
                "Upload-Metadata": "filename dG9vLWJpZy5tcDQ=",
            },
            timeout=10,
        )
        assert direct.status_code == 413
        reason = direct.json()["error"]["message"]

        signed_in(page, server)
        page.goto(f"{server.base_url}/upload")
        page.set_input_files("#file", str(source))
        page.click("#upload-button")
        error = page.locator("#upload-error")
        error.wait_for(state="visible", timeout=30_000)
        assert error.inner_text() == reason
        assert page.url.endswith("/upload")
        assert page.locator("#upload-button").is_enabled()  # the user can try another file
