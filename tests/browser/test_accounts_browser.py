"""Headless Chromium with accounts: sign up, sign out, sign in through the real forms, upload a
private video from the upload page and watch it; another user (and an anonymous visitor)
cannot open its watch page nor get at its media."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import PASSWORD, WATCH_URL, _logs, log_in, sign_up
from tests.support import run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_sign_up_log_in_upload_private_and_watch_denied_to_others(
    page: Page,
    browser: Browser,
    clip: Path,
    tmp_path: Path,
) -> None:
    with run_server(tmp_path / "data") as server:
        base = server.base_url
        # sign up through the form: signed in at once
        page.goto(f"{base}/signup")
        page.fill("#username", "Uploader")
        page.fill("#password", PASSWORD)
        page.click("#signup-button")
        page.wait_for_url(f"{base}/")
        assert page.locator("#nav-account").inner_text() == "Uploader"
        cookie = next(c for c in page.context.cookies() if c["name"] == "rs_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        # sign out (a CSRF-protected form), then sign in through /login
        page.click("#logout-button")
        page.wait_for_url(f"{base}/")
        assert page.locator("#nav-login").is_visible()
        page.goto(f"{base}/upload")  # needs a user: sent to the sign-in page
        page.wait_for_url(re.compile(r"/login\?next=%2Fupload$"))
        log_in(page, server, "Uploader", next_path="/upload")

        # upload a private video with tus-js-client (which sends the CSRF header)
        page.set_input_files("#file", str(clip))
        page.fill("#title", "Only mine")
        page.select_option("#visibility", "private")
        page.click("#upload-button")
        page.click("#watch-link", timeout=120_000)  # the upload page links to it once done
        page.wait_for_url(WATCH_URL, timeout=120_000)
        match = WATCH_URL.search(page.url)
        assert match
        vid = match.group(1)
        video = wait_for_status(base, vid, {"ready", "failed"}, timeout=300)
        assert video["status"] == "ready", f"{video}\n{server.log()}"
        assert video["visibility"] == "private"
        page.wait_for_function(
            "() => { const v = document.querySelector('video');"
            " return v !== null && v.currentTime > 1; }",
            timeout=90_000,
        )
        mine = page.request.get(f"{base}/api/v1/videos/{vid}/playback")
        assert mine.status == 200
        page.goto(f"{base}/me/videos")
        assert page.locator(f'[data-video-id="{vid}"]').is_visible()
        assert vid not in httpx.get(f"{base}/", timeout=10).text  # not in the public library

        # another user: no watch page, no playback URL, no media without a token
        sign_up(server, "intruder")
        context = browser.new_context()
        try:
            other = context.new_page()
            log_in(other, server, "intruder")
            response = other.goto(f"{base}/watch/{vid}")
            assert response is not None and response.status == 403
            assert "This video is private" in other.content()
            assert other.locator("video").count() == 0
            denied = other.request.get(f"{base}/api/v1/videos/{vid}/playback")
            assert denied.status == 403
            hls = mine.json()["hls_url"]
            forged = re.sub(r"/media/([^/]+)/([^/]+)/[^/]+/", r"/media/\1/\2/bogus/", hls)
            assert other.request.get(forged).status == 403
            expired = f"k1.{int(time.time()) - 10}.{'A' * 43}"
            stale = re.sub(r"/media/([^/]+)/([^/]+)/[^/]+/", rf"/media/\1/\2/{expired}/", hls)
            assert other.request.get(stale).status == 403
        finally:
            context.close()

        # an anonymous visitor is sent to sign in
        anonymous = httpx.get(f"{base}/watch/{vid}", timeout=10)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == f"/login?next=%2Fwatch%2F{vid}"
        assert httpx.get(f"{base}/api/v1/videos/{vid}/playback", timeout=10).status_code == 401
        assert "pageerror" not in _logs(page)
