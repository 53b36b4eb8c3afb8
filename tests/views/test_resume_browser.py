"""Headless Chromium: a signed-in viewer watches a few seconds, reloads the page and the
player resumes near where it stopped; the views were counted."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import (  # noqa: F401  (fixtures)
    _logs,
    browser,
    log_in,
    page,
    sign_up,
    tus_upload,
)
from tests.support import make_clip, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PLAYING_PAST = (
    "(t) => { const v = document.querySelector('video');"
    " return v !== null && !v.paused && v.currentTime > t; }"
)


def test_reload_resumes_near_the_previous_position(
    page: Page,  # noqa: F811
    tmp_path: Path,
) -> None:
    clip = make_clip(tmp_path / "twenty.mp4", seconds=20, width=320, height=240)
    with run_server(
        tmp_path / "data",
        ladder='[{"height": 240, "video_kbps": 300}]',
        views_flush_interval_s=1,
    ) as server:
        base = server.base_url
        vid = tus_upload(server, clip, "Resume me")
        video = wait_for_status(base, vid, {"ready", "failed"}, timeout=300)
        assert video["status"] == "ready", f"{video}\n{server.log()}"
        sign_up(server, "viewer")
        log_in(page, server, "viewer")

        page.goto(f"{base}/watch/{vid}")
        page.wait_for_function(PLAYING_PAST, arg=5, timeout=90_000)
        stopped = float(
            page.evaluate(
                "() => { const v = document.querySelector('video');"
                " v.pause(); return v.currentTime; }"
            )
        )
        assert 5 < stopped < 17
        time.sleep(2.5)  # the pause beacon, then at least one flush (every second)

        page.reload()
        page.wait_for_function(
            "() => window.reelstreamPlayer && window.reelstreamPlayer.resumedFrom !== null",
            timeout=90_000,
        )
        resumed = float(page.evaluate("() => window.reelstreamPlayer.resumedFrom"))
        assert abs(resumed - stopped) < 1.0, (resumed, stopped)
        page.wait_for_function(PLAYING_PAST, arg=stopped - 1, timeout=60_000)
        note = page.locator("#resume-note")
        assert note.is_visible() and "Resumed from 0:" in note.inner_text()

        page.click("#resume-restart")  # start over
        page.wait_for_function(
            "() => document.querySelector('video').currentTime < 3", timeout=10_000
        )
        assert page.locator("#resume-note").is_hidden()

        # two page loads, two player sessions, one client address within the dedupe window:
        # one view, written by the periodic flush (the second load's beacon is not counted)
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline:
            count = httpx.get(f"{base}/api/v1/videos/{vid}", timeout=10).json()["view_count"]
            if count >= 1:
                break
            time.sleep(0.5)
        time.sleep(2.5)  # more flushes: nothing more may arrive
        count = httpx.get(f"{base}/api/v1/videos/{vid}", timeout=10).json()["view_count"]
        assert count == 1, server.log()
        assert "pageerror" not in _logs(page)
