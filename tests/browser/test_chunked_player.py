"""Headless Chromium plays a video whose upper rung was encoded in chunks by chunk jobs and
stitched (``processing.chunked``): hls.js held on that rung, and dash.js, play it from the
start across every seam to the end, fetching every stitched segment (several CMAF fragments
each, one init segment for the rung)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, Request

from reelstream.web.render import STATIC_DIR
from tests.browser.conftest import _logs, tus_upload
from tests.support import ADMIN_HEADERS, Server, make_clip, require, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SECONDS = 12.0
CHUNKING = {"segment_s": 2, "gop_s": 1, "chunk_s": 4, "chunk_min_s": 6}

PIN_DASH_JS = """() => {
  const d = window.reelstreamPlayer.dash;
  d.updateSettings({streaming: {abr: {autoSwitchBitrate: {video: false},
                                      initialBitrate: {video: 100000}}}});
  const pin = () => d.setRepresentationForTypeByIndex
    ? d.setRepresentationForTypeByIndex('video', 1, true) : d.setQualityFor('video', 1, true);
  try { pin(); } catch (e) { d.on('streamInitialized', pin); }
}"""

ENDED_JS = """() => {
  const v = document.querySelector('video');
  return {ended: v.ended, time: v.currentTime, fatal: window.reelstreamPlayer.fatalError};
}"""


@pytest.fixture(scope="module")
def chunked_video(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp("chunked-player")
    clip = make_clip(folder / "clip.mp4", seconds=SECONDS, width=640, height=360)
    with run_server(folder / "data", **CHUNKING) as server:
        vid = tus_upload(server, clip, "chunked")
        video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=180)
        assert video["status"] == "ready", server.log()
        timeline = httpx.get(
            f"{server.base_url}/api/v1/videos/{vid}/timeline", headers=ADMIN_HEADERS, timeout=10
        ).json()
        chunks = [s for s in timeline["stages"] if s["name"] == "chunk"]
        assert len(chunks) == 3 and all(s["state"] == "done" for s in chunks), timeline
        yield server, vid


def play_to_the_end(page: Page, server: Server, vid: str, query: str, pin_hls: bool) -> set[str]:
    """Play the video muted from the start to its end; the v360 segments the player fetched."""
    fetched: set[str] = set()

    def on_request(request: Request) -> None:
        parts = request.url.split("?")[0].split("/")
        if parts[-2] == "v360" and parts[-1].startswith("seg_"):
            fetched.add(parts[-1])

    page.on("request", on_request)
    page.goto(f"{server.base_url}/watch/{vid}{query}")
    page.wait_for_function("() => window.reelstreamPlayer && window.reelstreamPlayer.kind")
    # hold the player on the stitched rung (the lead's 240p is a single pass)
    if pin_hls:
        page.wait_for_function(
            "() => window.reelstreamPlayer.hls && window.reelstreamPlayer.hls.levels.length === 2"
        )
        # (held: a level switch away from it, seen once in CI and not yet explained, is undone)
        page.evaluate(
            "() => { const hls = window.reelstreamPlayer.hls; hls.currentLevel = 1;"
            " hls.on(Hls.Events.LEVEL_SWITCHED, (e, d) => {"
            " if (d.level !== 1) hls.currentLevel = 1; }); }"
        )
    else:
        page.wait_for_function("() => window.reelstreamPlayer.dash")
        page.evaluate(PIN_DASH_JS)
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play(); }")
    try:
        page.wait_for_function(
            "() => document.querySelector('video').ended || window.reelstreamPlayer.fatalError",
            timeout=int((SECONDS + 60) * 1000),
        )
    except Exception:
        pytest.fail(f"did not play to the end: {page.evaluate(ENDED_JS)}\n{_logs(page)}")
    state = page.evaluate(ENDED_JS)
    assert state["fatal"] is None and state["ended"], (state, _logs(page))
    assert state["time"] == pytest.approx(SECONDS, abs=0.5), state
    return fetched


@pytest.mark.timeout(240)
def test_hls_js_plays_a_chunked_rung_across_its_seams(
    page: Page, chunked_video: tuple[Server, str]
) -> None:
    server, vid = chunked_video
    fetched = play_to_the_end(page, server, vid, "", pin_hls=True)
    # the stitched segments (2 s each) on both sides of both seams (4 s and 8 s: segments 3
    # and 5 open chunks) to the last (the first may have played at 240p before the switch)
    assert {f"seg_{n:05d}.m4s" for n in range(2, 7)} <= fetched, fetched


@pytest.mark.timeout(240)
def test_dash_js_plays_a_chunked_video_to_its_end(
    page: Page, chunked_video: tuple[Server, str]
) -> None:
    require((STATIC_DIR / "vendor" / "dash.all.min.js").is_file(), "dash.js (run `make assets`)")
    server, vid = chunked_video
    fetched = play_to_the_end(page, server, vid, "?player=dash", pin_hls=False)
    # on the stitched rung through the later seams to the last segment
    assert {"seg_00005.m4s", "seg_00006.m4s"} <= fetched, fetched
