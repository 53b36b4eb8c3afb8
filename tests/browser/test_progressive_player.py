"""Headless Chromium plays a new video from the moment it turns playable, while it is still
processing, to its end: from the beginning (not a "live edge"), without a stall, through the
growing HLS playlists (hls.js) and the dynamic DASH MPD (dash.js); the page says it plays while
processing, then offers every quality once the video is ready."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route

from reelstream.web.render import STATIC_DIR
from tests.browser.conftest import _logs, tus_upload
from tests.support import ADMIN_HEADERS, Server, require, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SOURCE_S = 20.0  # tests.fixtures.clips.processing_clip

# Media events do not bubble: listen in the capture phase, before the page's scripts run.
PROBE_JS = """
(() => {
  const probe = {playing: 0, firstTime: null, waiting: 0, waitingAt: [], ended: false,
                 endTime: null, growingAtStart: null, statusAtStart: null};
  window.progressiveProbe = probe;
  const videoId = location.pathname.split('/').pop();
  document.addEventListener('playing', e => {
    if (probe.playing++ === 0) {
      probe.firstTime = e.target.currentTime;
      probe.growingAtStart = window.reelstreamPlayer ? window.reelstreamPlayer.growing : null;
      fetch('/api/v1/videos/' + videoId).then(r => r.json())
        .then(v => { probe.statusAtStart = v.status; });
    }
  }, true);
  // a stall: the player waits for data after playback started
  document.addEventListener('waiting', e => {
    if (probe.playing) { probe.waiting++; probe.waitingAt.push(e.target.currentTime); }
  }, true);
  document.addEventListener('ended', e => {
    probe.ended = true;
    probe.endTime = e.target.currentTime;
  }, true);
})();
"""


STATE_JS = """() => {
  const v = document.querySelector('video');
  const ranges = [];
  for (let i = 0; i < v.buffered.length; i++) ranges.push([v.buffered.start(i), v.buffered.end(i)]);
  return {probe: window.progressiveProbe, time: v.currentTime, duration: v.duration,
          paused: v.paused, readyState: v.readyState, buffered: ranges};
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("progressive-player") / "data") as srv:
        yield srv


def upload_until_playable(server: Server, source: Path, title: str) -> str:
    """Upload, then wait until the API says ``playable``: the video is still processing."""
    vid = tus_upload(server, source, title)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        video = httpx.get(
            f"{server.base_url}/api/v1/videos/{vid}", headers=ADMIN_HEADERS, timeout=10
        ).json()
        if video["playable"]:
            assert video["status"] == "processing", video
            growing = [r["height"] for r in video["renditions"] if r["playable"] and not r["ready"]]
            coming = [r["height"] for r in video["renditions"] if not r["playable"]]
            assert growing == [240] and coming == [360, 480, 720, 1080], video["renditions"]
            assert video["poster_url"] is None  # made with the final publish
            return vid
        assert video["status"] in ("queued", "processing"), f"{video}\n{server.log()}"
        time.sleep(0.1)
    pytest.fail(f"never playable\n{server.log()}")


def record_manifests(page: Page) -> list[tuple[str, bool]]:
    """(file name, still growing) of every manifest the player loads."""
    seen: list[tuple[str, bool]] = []

    def record(route: Route) -> None:
        response = route.fetch()
        body = response.text()
        name = route.request.url.split("?")[0].rsplit("/", 1)[-1]
        growing = 'type="dynamic"' in body or ("#EXTINF" in body and "#EXT-X-ENDLIST" not in body)
        seen.append((name, growing))
        route.fulfill(response=response)

    page.route("**/*.m3u8", record)
    page.route("**/*.mpd", record)
    return seen


def play_while_processing(page: Page, server: Server, source: Path, player: str) -> None:
    vid = upload_until_playable(server, source, f"progressive {player}")
    seen = record_manifests(page)
    page.add_init_script(script=PROBE_JS)
    page.goto(f"{server.base_url}/watch/{vid}" + ("?player=dash" if player == "dash" else ""))

    # the page plays it and says so while it processes
    note = page.locator("#progressive-note")
    note.wait_for(state="visible", timeout=30_000)
    text = " ".join((note.text_content() or "").split())  # as written (CSS shows it upper)
    assert "Playing while processing" in text and "240p now" in text, text
    assert "coming: 1080p, 720p, 480p, 360p" in text, text
    assert page.locator("#rendition-list li[data-state=growing]").count() == 1
    assert page.get_attribute("#player", "poster") is None  # no poster until it exists

    try:
        page.wait_for_function(
            "() => window.progressiveProbe.ended || window.reelstreamPlayer.fatalError",
            timeout=int((SOURCE_S + 90) * 1000),
        )
    except Exception:
        where = page.evaluate(STATE_JS)
        pytest.fail(f"did not play to the end: {where} {seen}\n{_logs(page)}\n{server.log()}")
    probe: dict[str, Any] = page.evaluate("() => window.progressiveProbe")
    state: dict[str, Any] = page.evaluate(
        "() => ({kind: window.reelstreamPlayer.kind, fatal: window.reelstreamPlayer.fatalError})"
    )
    assert state == {"kind": player, "fatal": None}, _logs(page)
    # still processing when playback began, and started at the beginning
    assert probe["growingAtStart"] is True, probe
    assert probe["statusAtStart"] == "processing", probe
    assert probe["firstTime"] < 0.5, probe
    # to the end, without waiting for data once started
    assert probe["ended"] and probe["endTime"] == pytest.approx(SOURCE_S, abs=0.5), probe
    assert probe["waiting"] == 0, (probe, seen)
    # the player read growing manifests and reloaded them until they were complete
    assert any(growing for _, growing in seen), seen
    assert seen[-1][1] is False, seen

    # ready: every quality is listed; the note says a reload offers them
    video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=120)
    assert video["status"] == "ready", server.log()
    page.wait_for_function(
        "() => document.querySelector('#head-status').textContent === 'ready'", timeout=30_000
    )
    assert page.locator("#rendition-list li").count() == 5
    assert page.locator("#rendition-list li[data-state=growing]").count() == 0
    assert "every quality is ready" in (note.text_content() or "")


@pytest.mark.timeout(240)
def test_hls_js_plays_a_video_while_it_is_processed(
    page: Page, server: Server, processing_clip: Path
) -> None:
    play_while_processing(page, server, processing_clip, "hls")


@pytest.mark.timeout(240)
def test_dash_js_plays_a_video_while_it_is_processed(
    page: Page, server: Server, processing_clip: Path
) -> None:
    require((STATIC_DIR / "vendor" / "dash.all.min.js").is_file(), "dash.js (run `make assets`)")
    play_while_processing(page, server, processing_clip, "dash")
