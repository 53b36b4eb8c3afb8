"""Issue 13's smaller items in real Chromium, on one server: the API explorer works offline (no
request leaves the server, no policy violation), the favicon, a signed-out visitor sent to sign
in is told why, and a file that can never work says that retrying will not help and offers no
retry and no "attempt 1 of 3"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import _logs, tus_upload
from tests.browser.test_csp_browser import RECORD_VIOLATIONS, _admin_password, _violations
from tests.support import Server, run_server, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("small-items")) as srv:
        yield srv


def test_docs_favicon_sign_in_reason_and_a_permanent_failure(
    page: Page, server: Server, tmp_path: Path
) -> None:
    base = server.base_url
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video\n" * 256)
    vid = tus_upload(server, junk, "Not a video")

    # /docs: Swagger UI from this server only, under its policy
    page.add_init_script(RECORD_VIOLATIONS)
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((base, "data:")) else elsewhere.append(r.url),
    )
    response = page.goto(f"{base}/docs")
    assert response is not None and response.status == 200
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 10
    assert elsewhere == [] and _violations(page) == [], _logs(page)

    # the favicon the pages link answers, and /favicon.ico leads to it
    page.goto(f"{base}/")
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert icon == "/static/favicon.svg"
    ico = page.request.get(f"{base}/favicon.ico")
    assert ico.ok and ico.headers["content-type"].startswith("image/svg+xml")

    # signed out, /upload sends to sign-in and says why
    page.goto(f"{base}/upload")
    page.wait_for_url(f"{base}/login?next=%2Fupload")
    assert page.locator("#sign-in-reason").inner_text() == "Sign in to upload videos."
    page.fill("#username", "admin")
    page.fill("#password", _admin_password(server))
    page.click("#login-button")
    page.wait_for_url(f"{base}/upload")

    # the owner's watch page of a file that can never work
    video = wait_for_status(base, vid, {"ready", "failed"}, timeout=60)
    assert video["status"] == "failed", video
    page.goto(f"{base}/watch/{vid}")
    summary = page.locator("#timeline-summary")
    page.wait_for_function(
        "() => document.getElementById('timeline-summary').textContent.startsWith('Failed')"
    )
    assert summary.inner_text().endswith("Retrying will not help: upload a different file.")
    assert page.locator("#retry-box").is_hidden()  # no retry offered
    assert "ttempt" not in page.locator("#job-info").inner_text()
    assert _violations(page) == [], _logs(page)
