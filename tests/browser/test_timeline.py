"""Headless Chromium: the watch page's processing timeline updates while a video encodes, shows
a rendition that failed with its reason, and its owner retries that rendition from the page
without a new upload. The encoder failure is real ffmpeg behind a wrapper that fails the
commands of one rendition (``tests.support.FaultyFFmpeg``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import _logs, browser, signed_in  # noqa: F401
from tests.browser.conftest import page as page
from tests.support import (
    FAULTY_REASON,
    FaultyFFmpeg,
    Server,
    make_clip,
    run_server,
    wait_for_status,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def clip720(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of 1280x720: four renditions, each taking a moment to encode on its own."""
    path = tmp_path_factory.mktemp("timeline") / "clip720.mp4"
    make_clip(path, seconds=12, width=1280, height=720)
    return path


def upload_as_page_user(page: Page, server: Server, path: Path) -> str:
    """One tus creation-with-upload POST from the page's session (cookie + CSRF header)."""
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    data = path.read_bytes()
    r = page.request.post(
        f"{server.base_url}/api/v1/uploads",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename Y2xpcDcyMC5tcDQ=,title dGltZWxpbmU=",
            "Content-Type": "application/offset+octet-stream",
            "X-CSRF-Token": csrf,
        },
        data=data,
    )
    assert r.status == 201, r.text()
    return r.headers["video-id"]


RUNNING_JS = """() => Array.from(
  document.querySelectorAll('#timeline-stages li[data-stage=encode][data-state=running]'),
  li => [li.dataset.rendition || '', li.querySelector('.stage-state').textContent])"""


def timeline(page: Page) -> dict[str, Any] | None:
    last: dict[str, Any] | None = page.evaluate("() => window.reelstreamTimeline.last")
    return last


def stage_states(page: Page) -> dict[str, str]:
    """What the page shows: rendition -> state, from the rendered list (one snapshot)."""
    states: dict[str, str] = page.evaluate(
        """() => Object.fromEntries(Array.from(
          document.querySelectorAll('#timeline-stages li[data-stage=encode][data-rendition]'),
          li => [li.dataset.rendition, li.dataset.state]))"""
    )
    return states


def test_the_timeline_updates_while_encoding_and_a_failed_rendition_is_retried(
    page: Page,
    clip720: Path,
    tmp_path: Path,
) -> None:
    faulty = FaultyFFmpeg(tmp_path / "faulty")
    faulty.fail_on("name:v720")
    with run_server(
        tmp_path / "data", ffmpeg_path=faulty.path, heartbeat_s=0.25, x264_preset="medium"
    ) as server:
        signed_in(page, server, "uploader")
        vid = upload_as_page_user(page, server, clip720)
        page.goto(f"{server.base_url}/watch/{vid}")

        # while it encodes: the page shows renditions running with a growing progress, and
        # renditions finishing one after another (each encoded on its own after the failure)
        seen: list[tuple[str, str, str]] = []  # (rendition, state, shown text)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            # one snapshot of what is shown (the list is redrawn every second)
            for rendition, text in page.evaluate(RUNNING_JS):
                seen.append((rendition, "running", text))
            data = timeline(page)
            if data is not None and data["status"] == "ready":
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"not ready in time\n{_logs(page)}\n{server.log()}")
        shown: dict[str, set[str]] = {}
        for rendition, _, text in seen:
            shown.setdefault(rendition, set()).add(text)
        assert len(shown) >= 2, seen  # several renditions running, one after another
        assert any(len(texts) >= 2 for texts in shown.values()), seen  # a progress that moved

        # the result: ready without 720p, which shows why and offers a retry to its owner
        page.wait_for_function(
            "() => document.querySelector('#timeline-stages li[data-rendition=v720]')"
            " && document.querySelector('#timeline-stages li[data-rendition=v720]')"
            ".dataset.state === 'failed'"
        )
        states = stage_states(page)
        assert states == {
            "v240": "done",
            "v360": "done",
            "v480": "done",
            "v720": "failed",
            "audio": "done",
        }, states
        failed = page.locator("#timeline-stages li[data-rendition=v720]")
        assert FAULTY_REASON in failed.locator(".stage-error").inner_text()
        assert "without 1 rendition" in page.locator("#timeline-summary").inner_text()
        assert page.locator("#retry-box").is_hidden()  # the video itself did not fail
        page.wait_for_function(
            "() => { const v = document.querySelector('video'); return v && v.currentTime > 1; }",
            timeout=90_000,
        )

        # retry from the page, with the encoder mended: 720p is encoded and added
        faulty.heal()
        failed.locator("button.retry-rendition").click()
        page.wait_for_function(
            "() => { const t = window.reelstreamTimeline.last;"
            " return t && t.job && t.job.kind === 'rendition'; }"
        )
        page.wait_for_function(
            "() => document.querySelector('#timeline-stages li[data-rendition=v720]')"
            ".dataset.state === 'done'",
            timeout=120_000,
        )
        page.wait_for_function(
            "() => document.querySelector('#rendition-list').innerText.includes('720p')",
            timeout=30_000,
        )
        assert page.locator("button.retry-rendition").count() == 0
        assert page.locator("#timeline-summary").inner_text() == "Ready"
        video = wait_for_status(server.base_url, vid, {"ready"})
        assert [r["height"] for r in video["renditions"]] == [240, 360, 480, 720]
        assert "pageerror" not in _logs(page), _logs(page)
