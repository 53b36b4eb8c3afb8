"""Headless Chromium plays a short generated video on the watch page: the player's QoE reports
reach the server and its figures appear in the admin API and on the admin page (one session,
a startup time, a bitrate), and every media request carries CMCD in query mode with the
session and video ids (sid, cid) and the engine's keys (br, bl, ot), from hls.js and dash.js.
One server, one 8 s video, one test (CI budget)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request

from tests.browser.conftest import _logs, sign_in_admin, tus_upload, wait_playing
from tests.support import Server, make_clip, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    root = tmp_path_factory.mktemp("qoe")
    clip = make_clip(root / "eight.mp4", seconds=8, width=320, height=240)
    with run_server(
        root / "data",
        ladder='[{"height": 240, "video_kbps": 300}]',
        views_flush_interval_s=1,  # QoE reports are written with the views' interval
    ) as server:
        vid = tus_upload(server, clip, "QoE clip")
        video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=300)
        assert video["status"] == "ready", f"{video}\n{server.log()}"
        yield server, vid


def cmcd(url: str) -> dict[str, str]:
    """The CMCD query of a request as key -> value (a bare key is a true boolean)."""
    raw = parse_qs(urlsplit(url).query).get("CMCD", [""])[0]
    pairs = (item.split("=", 1) for item in raw.split(",") if item)
    return {p[0]: (p[1].strip('"') if len(p) == 2 else "true") for p in pairs}


def test_a_real_session_reports_qoe_and_sends_cmcd(page: Page, served: tuple[Server, str]) -> None:
    server, vid = served
    media: list[str] = []
    qoe_posts: list[str] = []

    def seen(request: Request) -> None:
        path = urlsplit(request.url).path
        if path.startswith("/media/"):
            media.append(request.url)
        elif path == f"/api/v1/videos/{vid}/qoe":
            qoe_posts.append(request.post_data or "")

    page.on("request", seen)
    page.goto(f"{server.base_url}/watch/{vid}")
    wait_playing(page, server, 3)
    player: dict[str, Any] = page.evaluate(
        "() => { const p = window.reelstreamPlayer;"
        " return {session: p.session, fatal: p.fatalError, qoe: p.qoe.figures()}; }"
    )
    assert player["fatal"] is None, _logs(page)
    live = player["qoe"]
    assert live["started"] == "1" and float(live["startup_s"]) > 0, live
    assert float(live["watch_s"]) > 2 and int(live["bitrate_bps"]) > 0, live
    page.goto("about:blank")  # pagehide: the last report of the session

    # CMCD on the media requests (query mode), with this session's and this video's ids
    engine = [u for u in media if urlsplit(u).path.endswith((".m3u8", ".m4s", ".mp4"))]
    segments = [u for u in engine if urlsplit(u).path.endswith(".m4s")]
    assert segments and all("CMCD=" in u for u in engine), engine
    assert cmcd(engine[0])["ot"] == "m", engine[0]  # the master playlist: a manifest
    keys = [cmcd(u) for u in segments]
    assert all(k["sid"] == player["session"] and k["cid"] == vid for k in keys), keys
    assert all({"br", "ot"} <= set(k) for k in keys), keys
    assert any("bl" in k for k in keys), keys  # buffer length, once something is buffered
    assert {k["ot"] for k in keys} <= {"v", "a", "av", "i"}, keys
    # the report of the first frame (Playwright does not see the one sent from pagehide;
    # the server's watch time below, > 2 s, can only come from that one)
    assert qoe_posts and "started=1" in qoe_posts[0] and "session=" in qoe_posts[0], qoe_posts

    # the figures reach the admin API and page (written within a flush interval)
    sign_in_admin(page, server, "/admin")
    deadline = time.monotonic() + 30
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = page.evaluate(
            "vid => fetch('/api/v1/admin/qoe?video_id=' + vid).then(r => r.json())", vid
        )
        if body["video"]["sessions"] == 1 and body["video"]["watch_s"] > 2:  # from pagehide
            break
        time.sleep(0.5)
    figures = body["video"]
    assert figures["sessions"] == 1 and figures["started"] == 1, body
    assert figures["watch_s"] > 2, body
    assert figures["startup_p50_s"] > 0 and figures["startup_p95_s"] > 0, body
    assert figures["avg_bitrate_bps"] > 0, body
    assert figures["failure_pct"] == 0 and figures["exits_before_start_pct"] == 0, body
    assert figures["rebuffer_ratio"] is not None and 0 <= figures["rebuffer_ratio"] < 1, body
    assert body["overall"]["sessions"] == 1, body
    print(f"QoE seen by the admin API: {figures}")  # the report quotes these

    page.goto(f"{server.base_url}/admin/qoe?video_id={vid}")
    row = page.locator('#qoe-video-figures tr[data-figure="sessions"] td')
    assert row.inner_text() == "1"
    startup = page.locator('#qoe-video-figures tr[data-figure="startup-p50"] td').inner_text()
    assert startup.endswith(" s") and float(startup.removesuffix(" s")) > 0, startup

    metrics = page.evaluate("() => fetch('/metrics').then(r => r.text())")
    assert 'reelstream_player_sessions_total{outcome="played"} 1.0' in metrics
    assert "reelstream_player_startup_seconds_count 1.0" in metrics

    # dash.js sends the same keys on its segments (streaming.cmcd, query mode)
    media.clear()
    page.goto(f"{server.base_url}/watch/{vid}?player=dash")
    wait_playing(page, server, 1)
    session = page.evaluate("() => window.reelstreamPlayer.session")
    dash = [cmcd(u) for u in media if urlsplit(u).path.endswith(".m4s")]
    assert dash and all(k["sid"] == session and k["cid"] == vid for k in dash), media
    assert all({"br", "ot"} <= set(k) for k in dash) and any("bl" in k for k in dash), dash
