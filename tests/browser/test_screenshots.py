"""Screenshots of the main pages (``tests.browser.screenshots``), only when asked:
``REELSTREAM_SCREENSHOTS=<dir>`` (e.g. docs/screenshots) writes the PNGs there and the index
next to it (``<dir>.md``, i.e. docs/screenshots.md). Otherwise skipped: CI does not take them."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import upload_ready
from tests.browser.screenshots import Shot, take, write_index
from tests.browser.test_csp_browser import _admin_password
from tests.support import Server, make_clip, run_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]

SHOTS = [
    Shot("library", "Library", "/"),
    Shot("watch", "Watch page", "/watch/{video}"),
    Shot("upload", "Upload", "/upload"),
    Shot("my-videos", "My videos", "/me/videos"),
    Shot("studio", "Studio", "/studio/{video}"),
    Shot("account", "Account", "/account"),
    Shot("admin", "Admin", "/admin"),
    Shot("admin-users", "Admin: users", "/admin/users"),
    Shot("embed", "Embed (the player alone, for iframes)", "/embed/{video}"),
]


def test_screenshots_of_the_main_pages(browser: Browser, tmp_path: Path) -> None:
    # REELSTREAM_SCREENSHOTS=docs/screenshots writes the project's pictures; without it the
    # same pages are taken into a temporary folder (every page must still render)
    target = os.environ.get("REELSTREAM_SCREENSHOTS")
    out_dir = Path(target).resolve() if target else tmp_path / "screenshots"
    with run_server(tmp_path / "data") as server:
        clip = make_clip(tmp_path / "demo.mp4", seconds=4, width=640, height=360)
        vid, _ = upload_ready(server, clip, "Quarterly all-hands: product demo")
        httpx.patch(
            f"{server.base_url}/api/v1/videos/{vid}",
            json={"description": "The product demo from the all-hands.\nQuestions at the end."},
            headers=server.headers,
            timeout=10,
        ).raise_for_status()
        missing = [s.path for s in SHOTS if not _exists(server, s, vid)]
        assert not missing, missing
        shots = SHOTS

        def sign_in(page: Page) -> None:
            page.goto(f"{server.base_url}/login")
            page.fill("#username", "admin")
            page.fill("#password", _admin_password(server))
            page.click("#login-button")
            page.wait_for_url(f"{server.base_url}/")

        rows = take(browser, server.base_url, shots, out_dir, video=vid, sign_in=sign_in)
    index = out_dir.with_suffix(".md")
    write_index(index, rows, out_dir.name)
    assert all((out_dir / file).stat().st_size > 1000 for _, _, file in rows)
    assert len(rows) == 2 * len(shots)


def _exists(server: Server, shot: Shot, vid: str) -> bool:
    r = httpx.get(server.base_url + shot.path.format(video=vid), headers=server.headers, timeout=10)
    return r.status_code != 404
