"""Headless Chromium: dash.js plays the DASH manifest; hls.js rides over playlists that answer
503 for a while; the player's seek bar (media-chrome's <media-time-range>) shows storyboard
previews; an uploaded caption, chosen in the player's captions menu, appears as a text track
whose cue becomes active."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route

from reelstream.web.render import STATIC_DIR
from tests.browser.conftest import _logs, upload_ready, wait_playing
from tests.support import Server, require, run_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CUE_TEXT = "Hello from the captions"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Iterator[Server]:
    require((STATIC_DIR / "vendor" / "dash.all.min.js").is_file(), "dash.js (run `make assets`)")
    with run_server(tmp_path_factory.mktemp("media-player") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def video_id(server: Server, clip: Path) -> str:
    vid, _ = upload_ready(server, clip, "Media features")
    r = httpx.post(
        f"{server.base_url}/api/v1/videos/{vid}/captions",
        params={"lang": "en", "label": "English"},
        content=f"1\n00:00:00,500 --> 00:00:03,000\n{CUE_TEXT}\n",
        headers={"content-type": "application/x-subrip", **server.headers},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return vid


def test_dash_js_plays_the_mpd(page: Page, server: Server, video_id: str) -> None:
    page.goto(f"{server.base_url}/watch/{video_id}?player=dash")
    wait_playing(page, server)
    state: dict[str, Any] = page.evaluate(
        """() => {
            const p = window.reelstreamPlayer;
            const v = document.querySelector('video');
            return {
                kind: p.kind, fatal: p.fatalError, hasDash: p.dash !== null, hls: p.hls,
                source: p.dash.getSource ? String(p.dash.getSource()) : '',
                width: v.videoWidth, paused: v.paused,
            };
        }"""
    )
    assert state["fatal"] is None, _logs(page)
    assert state["kind"] == "dash" and state["hasDash"] and state["hls"] is None
    assert state["source"].endswith("/manifest.mpd")
    assert state["width"] > 0 and not state["paused"]
    assert page.locator("#player-kind").inner_text() == "DASH (dash.js)"


def test_hls_js_retries_playlists_that_answer_503(
    page: Page, server: Server, video_id: str
) -> None:
    """The origin or the object store down for a few seconds (503 with Retry-After) at
    playback start: the player retries the master and the media playlists and plays (hls.js's
    default gives up on the master after one retry)."""
    refused: dict[str, int] = {}

    def unavailable(route: Route) -> None:
        name = route.request.url.split("?")[0].rsplit("/", 1)[-1]
        if refused.get(name, 0) < 3:
            refused[name] = refused.get(name, 0) + 1
            body = '{"error": {"code": "storage_error", "message": "try again shortly"}}'
            headers = {"Retry-After": "1", "Content-Type": "application/json"}
            route.fulfill(status=503, body=body, headers=headers)
        else:
            route.continue_()

    page.route("**/*.m3u8*", unavailable)
    page.goto(f"{server.base_url}/watch/{video_id}")
    wait_playing(page, server)
    state = page.evaluate(
        "() => ({kind: window.reelstreamPlayer.kind, fatal: window.reelstreamPlayer.fatalError})"
    )
    assert state == {"kind": "hls", "fatal": None}, _logs(page)
    assert refused.get("master.m3u8") == 3  # three 503s for the master, then it played
    assert len(refused) >= 2  # and a media playlist was refused three times too


def test_seek_bar_shows_storyboard_previews(page: Page, server: Server, video_id: str) -> None:
    page.goto(f"{server.base_url}/watch/{video_id}")
    wait_playing(page, server, 0.5)
    page.wait_for_function(
        "() => window.reelstreamPlayer.storyboard && window.reelstreamPlayer.storyboard.length"
    )
    page.evaluate("() => document.querySelector('video').pause()")
    bar = page.locator("#seek")
    page.mouse.move(600, 300)
    assert bar.is_visible()
    box = bar.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    # media-chrome's preview: the sprite, cropped to the tile of the time under the pointer
    preview = """() => {
        const thumb = document.getElementById('seek').shadowRoot
            .querySelector('media-preview-thumbnail');
        const img = thumb && thumb.shadowRoot.querySelector('img');
        return img && img.src && img.getBoundingClientRect().width > 0 ? {
            src: img.src, coords: thumb.getAttribute('mediapreviewcoords'),
            time: Number(document.getElementById('seek').getAttribute('mediapreviewtime'))
        } : null;
    }"""
    page.wait_for_function(preview, timeout=5000)
    shown: dict[str, Any] = page.evaluate(preview)
    assert "/storyboard/sb_001.jpg" in shown["src"], shown
    duration = page.evaluate("() => document.querySelector('video').duration")
    # the tile of the second under the pointer (6 s clip, one 160 px tile per second)
    assert shown["time"] == pytest.approx(0.6 * duration, abs=0.5)
    x = int(shown["coords"].split()[0])
    assert x == int(shown["time"]) * 160, shown
    sprite = httpx.get(shown["src"])
    assert sprite.status_code == 200 and sprite.headers["content-type"] == "image/jpeg"


def test_caption_track_shows_its_cue(page: Page, server: Server, video_id: str) -> None:
    page.goto(f"{server.base_url}/watch/{video_id}")
    wait_playing(page, server, 0.2)
    page.wait_for_function(
        "() => Array.from(document.querySelector('video').textTracks)"
        ".some(t => t.language === 'en')",
        timeout=30_000,
    )
    page.evaluate("() => document.querySelector('video').pause()")
    page.mouse.move(600, 300)
    page.locator("#captions-button").click()
    items = page.locator("#captions-menu media-chrome-menu-item")
    assert [t.strip() for t in items.all_inner_texts()] == ["Off", "English"]
    items.filter(has_text="English").click()
    page.evaluate("() => { document.querySelector('video').currentTime = 1.0; }")
    try:
        page.wait_for_function(
            """text => {
                const t = Array.from(document.querySelector('video').textTracks)
                    .find(t => t.language === 'en');
                return t && t.mode === 'showing' && t.activeCues && t.activeCues.length > 0
                    && t.activeCues[0].text === text;
            }""",
            arg=CUE_TEXT,
            timeout=30_000,
        )
    except Exception:
        pytest.fail(f"the caption cue never became active\n{_logs(page)}")
    assert page.evaluate("() => window.reelstreamPlayer.fatalError") is None
    # choosing "Off" hides it again
    page.locator("#captions-button").click()
    items.filter(has_text="Off").click()
    page.wait_for_function(
        "() => Array.from(document.querySelector('video').textTracks)"
        ".every(t => t.mode !== 'showing')"
    )
