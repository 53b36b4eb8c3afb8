"""Login CSRF in real Chromium (issue 9, defect 3): a page on another loopback origin that
auto-submits the attacker's credentials to ``/login`` (or ``/signup``) signs nobody in, not even
when it first plants a cookie and form token it fetched itself; the real form still signs in."""

from __future__ import annotations

import html
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser.attacker import attacker_site
from tests.browser.conftest import PASSWORD, _logs, log_in, sign_up
from tests.support import Server, form_token_of, run_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _autosubmit(action: str, fields: dict[str, str], plant_cookie: str = "") -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    plant = f"document.cookie = {plant_cookie!r};" if plant_cookie else ""
    return (
        "<!doctype html><title>win a prize</title>"
        f'<form id="f" method="post" action="{html.escape(action)}">{inputs}</form>'
        f"<script>{plant} document.getElementById('f').submit();</script>"
    )


def _session_cookies(page: Page) -> list[str]:
    return [c["name"] for c in page.context.cookies() if c["name"] == "rs_session"]


def _attacker_pair(server: Server) -> tuple[str, str]:
    """A cookie and form token the attacker fetched for themselves."""
    r = httpx.get(f"{server.base_url}/login", timeout=10)
    return r.cookies["rs_form"], form_token_of(r.text)


def test_cross_site_forms_do_not_sign_the_victim_in(page: Page, tmp_path: Path) -> None:
    with run_server(tmp_path / "data") as server:
        base = server.base_url
        sign_up(server, "attacker")
        creds = {"username": "attacker", "password": PASSWORD, "next": "/"}
        cookie, token = _attacker_pair(server)
        pages = {
            "/plain": _autosubmit(f"{base}/login", creds),
            "/signup": _autosubmit(
                f"{base}/signup", {"username": "attacker2", "password": PASSWORD}
            ),
            # a sibling origin shares the cookie jar: it plants its own pair first
            "/planted": _autosubmit(
                f"{base}/login",
                {**creds, "csrf_token": token},
                plant_cookie=f"rs_form={cookie}; path=/",
            ),
        }
        with attacker_site(pages) as evil:
            # Chromium says Sec-Fetch-Site: same-site, so each is refused for where it came
            # from (without that header the token pair refuses the first two: tests/auth)
            for path, target in (
                ("/plain", "/login"),
                ("/signup", "/signup"),
                ("/planted", "/login"),
            ):
                with page.expect_response(f"{base}{target}") as answer:
                    page.goto(f"{evil}{path}")
                page.wait_for_url(f"{base}{target}")
                assert answer.value.status == 403, path
                assert "sent from another site" in page.content(), (path, page.content())
                assert _session_cookies(page) == [], path
                page.goto(f"{base}/")
                assert page.locator("#nav-login").is_visible(), path
                assert page.locator("#nav-account").count() == 0, path
        assert httpx.get(f"{base}/api/v1/videos", timeout=10).status_code == 200
        # no account was made by the cross-site sign-up
        login = httpx.Client(base_url=base, timeout=10)
        with login:
            form = form_token_of(login.get("/login").text)
            data = {"username": "attacker2", "password": PASSWORD, "csrf_token": form}
            assert login.post("/login", data=data).status_code == 401

        # the real form still signs in, and the refusals left no stale state behind
        sign_up(server, "victim")
        log_in(page, server, "victim")
        assert _session_cookies(page) == ["rs_session"]
        assert "pageerror" not in _logs(page)
