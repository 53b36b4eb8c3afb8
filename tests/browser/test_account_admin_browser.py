"""Headless Chromium on the account page and the admin users page (one server for the module,
no video): change the password through the form and sign in with the new one; sign out another
browser from the account page; create a token, copy it with the Copy button, reload without a
second token; an admin disables a user, promotes another and resets a password the user then
signs in with."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import PASSWORD, _logs, log_in, sign_up
from tests.support import Server, run_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(180)]

NEW_PASSWORD = "a different long password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("account") / "data") as s:
        yield s


def _context(browser: Browser, server: Server) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    return context


def _sign_in_with(page: Page, server: Server, username: str, password: str) -> None:
    page.goto(f"{server.base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-button")
    page.wait_for_url(f"{server.base_url}/")
    assert page.locator("#nav-account").inner_text() == username


def test_password_sessions_and_tokens(browser: Browser, page: Page, server: Server) -> None:
    base = server.base_url
    sign_up(server, "alma")
    log_in(page, server, "alma", next_path="/account")
    other_context = browser.new_context()
    try:
        other = other_context.new_page()
        log_in(other, server, "alma")

        # sign out the other browser from the account page
        page.reload()
        rows = page.locator("#session-list tbody tr")
        assert rows.count() == 3  # sign-up signed in too (with httpx)
        assert page.locator(".current-session").inner_text().startswith("This browser")
        listed = other.request.get(f"{base}/api/v1/me/sessions").json()["sessions"]
        other_id = next(s["id"] for s in listed if s["current"])
        page.locator(f'tr[data-session-id="{other_id}"] button.end-session').click()
        page.wait_for_url(re.compile(r"/account\?notice=signed-out"))
        assert "That session was signed out" in page.locator("#flash").inner_text()
        assert page.locator("#session-list tbody tr").count() == 2
        assert page.locator(f'tr[data-session-id="{other_id}"]').count() == 0
        other.goto(f"{base}/account")
        assert "/login" in other.url  # signed out there

        # change the password through the form; the other browser signs in again first
        log_in(other, server, "alma")
        page.fill("#current-password", "not my password")
        page.fill("#new-password", NEW_PASSWORD)
        page.fill("#new-password-again", NEW_PASSWORD)
        page.click("#change-password")
        assert "the current password is wrong" in page.locator("#password-error").inner_text()
        page.fill("#current-password", PASSWORD)
        page.fill("#new-password", NEW_PASSWORD)
        page.fill("#new-password-again", NEW_PASSWORD)
        page.click("#change-password")
        page.wait_for_url(re.compile(r"/account\?notice=password"))
        assert "other sessions were signed out" in page.locator("#flash").inner_text()
        other.goto(f"{base}/account")
        assert "/login" in other.url
        _sign_in_with(other, server, "alma", NEW_PASSWORD)
    finally:
        other_context.close()

    # create a token: redirect, shown once, Copy puts it on the clipboard, reload adds none
    context = _context(browser, server)
    try:
        tab = context.new_page()
        _sign_in_with(tab, server, "alma", NEW_PASSWORD)
        tab.goto(f"{base}/account")
        assert tab.locator('input[name="scopes"][value="write"]').is_checked()
        assert tab.locator('input[name="scopes"][value="read"]').is_checked()
        tab.fill("#token-name", "laptop")
        tab.click("#create-token")
        tab.wait_for_url(re.compile(r"/account(#new-token-box)?$"))
        token = tab.locator("#new-token").inner_text()
        assert re.fullmatch(r"rs_[A-Za-z0-9_-]{43}", token)
        tab.click("#copy-token")
        tab.wait_for_function("() => document.getElementById('copy-token-status').textContent")
        assert tab.evaluate("() => navigator.clipboard.readText()") == token
        tab.reload()
        assert tab.locator("#new-token").count() == 0
        assert tab.locator("#token-list tbody tr").count() == 1
        assert "pageerror" not in _logs(tab)
    finally:
        context.close()


def test_admin_disables_promotes_and_resets(browser: Browser, page: Page, server: Server) -> None:
    base = server.base_url
    for name in ("root", "bert", "cleo", "dina"):
        sign_up(server, name)
    # make "root" an admin through the API, as the development admin (its token)
    listed = httpx.get(f"{base}/api/v1/admin/users", headers=server.headers, timeout=10).json()
    root = next(u["user_id"] for u in listed["users"] if u["username"] == "root")
    r = httpx.patch(
        f"{base}/api/v1/admin/users/{root}",
        json={"is_admin": True},
        headers=server.headers,
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["is_admin"], r.text
    context = _context(browser, server)
    try:
        admin = context.new_page()
        _sign_in_with(admin, server, "root", PASSWORD)
        admin.goto(f"{base}/admin")
        admin.click("#admin-users-link")
        admin.wait_for_url(f"{base}/admin/users")

        def row(name: str) -> str:
            return f'tr[data-username="{name}"]'

        admin.click(f"{row('bert')} button.disabled-true")
        assert "bert was disabled" in admin.locator("#flash").inner_text()
        assert admin.locator(f"{row('bert')} .state").inner_text() == "DISABLED"
        admin.click(f"{row('cleo')} button.is_admin-true")
        assert "cleo is now an admin" in admin.locator("#flash").inner_text()
        admin.click(f"{row('dina')} .password-form button")  # empty: generate one
        password = admin.locator("#generated-password").inner_text()
        assert len(password) == 20
        admin.click("#copy-password")
        admin.wait_for_function("() => document.getElementById('copy-password-status').textContent")
        assert admin.evaluate("() => navigator.clipboard.readText()") == password
        admin.reload()
        assert admin.locator("#generated-password").count() == 0
        # phones: the table scrolls inside its container, which stays within the screen (the
        # page's header at 390 px is the viewer pages' change, tested there)
        admin.set_viewport_size({"width": 390, "height": 844})
        right = admin.locator("#users").evaluate("e => e.getBoundingClientRect().right")
        assert right <= 390
        scroller = admin.locator("#users .table-scroll")
        assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")
    finally:
        context.close()

    # bert cannot sign in; cleo sees the admin pages; dina signs in with the new password
    page.goto(f"{base}/login")
    page.fill("#username", "bert")
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    assert "this account is disabled" in page.locator("#form-error").inner_text()
    _sign_in_with(page, server, "cleo", PASSWORD)
    assert page.locator("#nav-admin").is_visible()
    page.context.clear_cookies()
    _sign_in_with(page, server, "dina", password)
    assert "pageerror" not in _logs(page)
