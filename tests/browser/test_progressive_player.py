"""Headless Chromium plays a new video from the moment it turns playable, while it is still
processing, to its end: from the beginning (not a "live edge"), without a stall, through the
growing HLS playlists (hls.js) and the dynamic DASH MPD (dash.js); the page says it plays while
processing, then offers every quality once the video is ready."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route

from reelstream.web.render import STATIC_DIR
from tests.browser.conftest import _logs, tus_upload
from tests.browser.test_csp_browser import _admin_password
from tests.media.media_checks import parse_mpd
from tests.support import ADMIN_HEADERS, Server, require, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SOURCE_S = 20.0  # tests.fixtures.clips.processing_clip
MASTERS = ("master.m3u8", "manifest.mpd")

# Media events do not bubble: listen in the capture phase, before the page's scripts run.
PROBE_JS = """
(() => {
  const probe = {playing: 0, firstTime: null, stalls: [], ended: false,
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
    if (probe.playing) probe.stalls.push({at: Date.now(), t: e.target.currentTime});
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
  const d = window.reelstreamPlayer.dash;
  const dash = d ? {dynamic: d.isDynamic(), dvr: d.getDvrWindow(),
                    video: d.getBufferLength('video'), audio: d.getBufferLength('audio')} : null;
  return {probe: window.progressiveProbe, nudges: window.reelstreamPlayer.endNudges,
          time: v.currentTime, duration: v.duration,
          paused: v.paused, readyState: v.readyState, buffered: ranges, dash: dash};
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


@dataclass(frozen=True)
class Load:
    """One manifest the player loaded."""

    at: float  # wall clock, seconds (the browser's Date.now() is on the same clock)
    name: str  # "manifest.mpd", "master.m3u8", "v240/index.m3u8", "audio/index.m3u8"
    growing: bool
    listed_s: float  # media time its segments cover (the shortest track of an MPD)


def listed_seconds(body: str) -> float:
    if "<MPD" in body:
        _, reps = parse_mpd(body)
        return min((r.duration_s for r in reps if r.content in ("video", "audio")), default=0)
    return sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", body))


def record_manifests(page: Page) -> list[Load]:
    """Every manifest the player loads, in order."""
    seen: list[Load] = []

    def record(route: Route) -> None:
        response = route.fetch()
        body = response.text()
        name = "/".join(route.request.url.split("?")[0].split("/")[-2:])
        name = name.split("/", 1)[1] if name.split("/", 1)[1] in MASTERS else name
        growing = 'type="dynamic"' in body or ("#EXTINF" in body and "#EXT-X-ENDLIST" not in body)
        seen.append(Load(time.time(), name, growing, listed_seconds(body)))
        route.fulfill(response=response)

    # the player adds CMCD to every media request (``?CMCD=...``): match the path, any query
    page.route(re.compile(r"[^?]*\.(m3u8|mpd)(\?.*)?$"), record)
    return seen


def stalls_for_missing_segments(stalls: list[dict[str, float]], seen: list[Load]) -> list[Any]:
    """The stalls at the end of what the player's manifests listed then (the segments it
    needed were not there yet), as opposed to stalls with the data listed (a busy CPU)."""
    missing = []
    for stall in stalls:
        latest: dict[str, Load] = {}
        for load in seen:
            if load.at * 1000 <= stall["at"] and load.name != "master.m3u8":  # lists no segment
                latest[load.name] = load
        listed = min((load.listed_s for load in latest.values()), default=0.0)
        if stall["t"] >= listed - 0.25:
            missing.append((stall, listed))
    return missing


def play_while_processing(page: Page, server: Server, source: Path, player: str) -> None:
    # the Renditions list is for the owner and admins: watch as the development admin
    page.goto(f"{server.base_url}/login")
    page.fill("#username", "admin")
    page.fill("#password", _admin_password(server))
    page.click("#login-button")
    page.wait_for_url(f"{server.base_url}/")
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
    # to the end, never waiting for a segment not produced yet
    assert probe["ended"] and probe["endTime"] == pytest.approx(SOURCE_S, abs=0.5), probe
    assert stalls_for_missing_segments(probe["stalls"], seen) == [], (probe, seen)
    # the player read growing manifests and reloaded them until they were complete
    assert any(load.growing for load in seen), seen
    assert not seen[-1].growing, seen

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
