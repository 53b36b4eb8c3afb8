"""The Content-Security-Policy in real Chromium (issue 9, defect 6): every page works under it
and reports no violation (``securitypolicyviolation`` events, "Refused to ..." console
errors): the sign-in and sign-up forms, the library, the upload page uploading with
tus-js-client, the watch page playing with hls.js (and dash.js), the account and admin pages.
A page on another loopback origin that frames ``/account`` or ``/login`` shows nothing of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.attacker import attacker_site
from tests.browser.conftest import WATCH_URL, _logs, admin_password, upload_ready, wait_playing
from tests.support import run_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  e.violatedDirective + ' blocked ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber));
"""


def _violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("() => window.__csp || []")
    return found + [line for line in _logs(page).splitlines() if "Content Security Policy" in line]


def _visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")


_admin_password = admin_password  # the name the other browser tests import


def test_every_page_works_under_the_policy(page: Page, clip: Path, tmp_path: Path) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    with run_server(tmp_path / "data") as server:
        base = server.base_url
        vid, _ = upload_ready(server, clip, "Under CSP")
        seen: dict[str, list[str]] = {}

        for path in ("/signup", "/login"):
            _visit(page, f"{base}{path}")
            seen[path] = _violations(page)
        page.fill("#username", "admin")
        page.fill("#password", _admin_password(server))
        page.click("#login-button")
        page.wait_for_url(f"{base}/")
        assert page.locator("#nav-admin").is_visible()
        page.wait_for_load_state("networkidle")
        seen["/ (after sign-in)"] = _violations(page)

        for path in ("/", "/me/videos", "/account", "/admin"):
            _visit(page, f"{base}{path}")
            seen[path] = _violations(page)

        _visit(page, f"{base}/watch/{vid}")
        wait_playing(page, server)
        assert page.evaluate("() => window.reelstreamPlayer.kind") == "hls"
        seen["/watch (hls.js)"] = _violations(page)

        _visit(page, f"{base}/watch/{vid}?player=dash")
        wait_playing(page, server)
        seen["/watch (dash.js)"] = _violations(page)

        _visit(page, f"{base}/upload")
        page.set_input_files("#file", str(clip))
        page.fill("#title", "Uploaded under CSP")
        page.click("#upload-button")
        page.click("#watch-link", timeout=120_000)  # the upload page links to it once done
        page.wait_for_url(WATCH_URL, timeout=120_000)
        seen["/upload (tus-js-client)"] = _violations(page)

        bad = {where: v for where, v in seen.items() if v}
        assert not bad, f"CSP violations: {bad}\n{_logs(page)}"
        assert "pageerror" not in _logs(page)


def test_another_origin_cannot_frame_the_pages(page: Page, tmp_path: Path) -> None:
    with run_server(tmp_path / "data") as server:
        base = server.base_url
        page.goto(f"{base}/login")
        page.fill("#username", "admin")
        page.fill("#password", _admin_password(server))
        page.click("#login-button")
        page.wait_for_url(f"{base}/")
        frames = (
            "<!doctype html><title>free stuff</title>"
            f'<iframe id="a" src="{base}/account" width="800" height="600"></iframe>'
            f'<iframe id="l" src="{base}/login" width="800" height="600"></iframe>'
        )
        with attacker_site({"/frame": frames}) as evil:
            page.goto(f"{evil}/frame")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(500)
            children = page.main_frame.child_frames
            assert len(children) == 2
            for child in children:
                try:
                    content = child.content()
                except Exception:  # a blocked frame may have no document at all
                    content = ""
                assert "token-form" not in content and "login-form" not in content, content
                assert "reelstream" not in content, content
        refused = [line for line in _logs(page).splitlines() if "frame-ancestors" in line]
        assert len(refused) >= 2, _logs(page)
