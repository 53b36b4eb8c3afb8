"""Login CSRF (issue 9, defect 3): the sign-in and sign-up forms carry a pre-session token
(``reelstream.auth.login_csrf``). A POST without the matching, fresh pair of cookie and form
token, or one the browser says came from another site, gets the form again with 403 and a plain
reason, and signs nobody in; the browser's own flow (GET the form, then POST it) still works."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.auth.login_csrf import LoginFormGuard
from reelstream.config import Settings
from tests.support import create_account, form_token_of, post_form

PASSWORD = "correct horse battery"
CREDENTIALS = {"username": "alice", "password": PASSWORD}
FORMS = ("/login", "/signup")
REASON = {"/login": "your sign-in form expired", "/signup": "your sign-up form expired"}


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    """An app with the account ``alice`` and a cookie-keeping client without any token."""
    with TestClient(create_app(settings)) as c:
        create_account(c, "alice", password=PASSWORD)
        c.headers.pop("Authorization", None)
        yield c


def _fresh(client: TestClient) -> TestClient:
    """Another browser of the same app (its own cookie jar)."""
    other = TestClient(client.app)
    other.portal = client.portal
    return other


def _data(path: str, user: str = "alice") -> dict[str, str]:
    return {"username": user if path == "/login" else f"{user}2", "password": PASSWORD}


def _signed_in(client: TestClient) -> bool:
    return "rs_session" in client.cookies


def _assert_refused(r: httpx2.Response, path: str, reason: str) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert reason in r.text, r.text
    assert ('id="login-form"' if path == "/login" else 'id="signup-form"') in r.text
    assert "rs_session" not in r.headers.get("set-cookie", "")


def _key(client: TestClient) -> str:
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    return str(settings.signing_keys[settings.signing_key_id].get_secret_value())


@pytest.mark.parametrize("path", FORMS)
def test_a_post_without_the_form_token_is_refused(browser: TestClient, path: str) -> None:
    r = browser.post(path, data=_data(path), follow_redirects=False)
    _assert_refused(r, path, REASON[path] + ", please try again")
    assert not _signed_in(browser)
    # the refusal is the form again, with a new pair: trying again works
    assert "rs_form" in r.headers["set-cookie"]
    retry = browser.post(
        path,
        data={**_data(path), "csrf_token": form_token_of(r.text)},
        follow_redirects=False,
    )
    assert retry.status_code == 303, retry.text
    assert _signed_in(browser)


@pytest.mark.parametrize("path", FORMS)
def test_a_token_from_another_pre_session_is_refused(browser: TestClient, path: str) -> None:
    attacker = _fresh(browser)
    theirs = form_token_of(attacker.get(path).text)
    browser.get(path)  # the victim's own pre-session cookie
    r = browser.post(path, data={**_data(path), "csrf_token": theirs}, follow_redirects=False)
    _assert_refused(r, path, REASON[path])
    assert not _signed_in(browser)
    # ... and the attacker's own cookie with the victim's token neither
    mine = form_token_of(browser.get(path).text)
    r = attacker.post(path, data={**_data(path), "csrf_token": mine}, follow_redirects=False)
    _assert_refused(r, path, REASON[path])


HOSTILE_TOKENS = [
    "",
    "x",
    "1.abc",
    ".",
    "0." + "A" * 43,
    "9" * 12 + "." + "A" * 43,
    "9" * 400 + "." + "A" * 43,
    "-1." + "A" * 43,
    "1e9." + "A" * 43,
    "\u0661\u0662." + "A" * 43,  # Arabic-Indic digits: int() would take them
    "1700000000." + "A" * 42 + "=",
    "1700000000." + "A" * 43 + "\n",
    "A" * 70_000,  # over the form size limit
    "%00",
]


@pytest.mark.parametrize("token", HOSTILE_TOKENS, ids=range(len(HOSTILE_TOKENS)))
def test_hostile_form_tokens_are_a_403_never_a_500(browser: TestClient, token: str) -> None:
    browser.get("/login")
    r = browser.post("/login", data={**CREDENTIALS, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == (422 if len(token) > 65_536 else 403), r.text
    assert r.headers["content-type"].startswith("text/html")  # the form again, never JSON
    assert 'id="login-form"' in r.text
    assert not _signed_in(browser)


HOSTILE_COOKIES = ["", "x", "A" * 42, "A" * 44, "A" * 42 + "=", "A" * 42 + ";", "../" * 20]


@pytest.mark.parametrize("cookie", HOSTILE_COOKIES, ids=range(len(HOSTILE_COOKIES)))
def test_hostile_form_cookies_are_refused(browser: TestClient, cookie: str) -> None:
    guard = LoginFormGuard(_key(browser))
    token = guard.issue(cookie, refresh=True).token  # a token signed for a new value
    browser.cookies.set("rs_form", cookie)
    r = browser.post("/login", data={**CREDENTIALS, "csrf_token": token}, follow_redirects=False)
    _assert_refused(r, "/login", REASON["/login"])


def test_an_old_or_future_form_token_is_refused(browser: TestClient) -> None:
    browser.get("/login")
    cookie = browser.cookies["rs_form"]
    guard = LoginFormGuard(_key(browser))
    for when in (time.time() - guard.ttl_s - 5, time.time() + 3600):
        token = guard.issue(cookie, refresh=False, now=when).token
        r = browser.post("/login", data={**CREDENTIALS, "csrf_token": token})
        _assert_refused(r, "/login", REASON["/login"])
        assert browser.cookies["rs_form"] != cookie  # a refused pair is replaced
        cookie = browser.cookies["rs_form"]
    token = guard.issue(cookie, refresh=False, now=time.time() - 60).token
    ok = browser.post("/login", data={**CREDENTIALS, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and _signed_in(browser)


CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # another port of the same host shares its cookies
    {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"},  # Sec-Fetch-Site wins
    {"Origin": "http://evil.example"},
    {"Origin": "http://testserver.evil.example"},
    {"Origin": "http://testserver:8081"},
    {"Origin": "null"},  # sandboxed frames, data: URLs
    {"Origin": "not a url"},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=range(len(CROSS_SITE)))
@pytest.mark.parametrize("path", FORMS)
def test_a_valid_pair_sent_from_another_site_is_refused(
    browser: TestClient, path: str, headers: dict[str, str]
) -> None:
    """A page on a sibling origin can plant a pair it fetched itself (cookies ignore ports):
    what the browser says about the form's origin stops it."""
    r = post_form(browser, path, _data(path), headers=headers, follow_redirects=False)
    _assert_refused(r, path, "sent from another site")
    assert not _signed_in(browser)


SAME_ORIGIN = [
    {},
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "http://testserver"},
    {"Origin": "http://TESTSERVER"},
]


@pytest.mark.parametrize("headers", SAME_ORIGIN, ids=range(len(SAME_ORIGIN)))
def test_the_browser_flow_signs_in(browser: TestClient, headers: dict[str, str]) -> None:
    page = browser.get("/login?next=/me/videos")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("rs_form=")
    for attribute in ("HttpOnly", "Path=/", "SameSite=strict", "Max-Age=3600"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # development mode over plain http only
    token = form_token_of(page.text)
    data = {**CREDENTIALS, "next": "/me/videos", "csrf_token": token}
    r = browser.post("/login", data=data, headers=headers, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me/videos", r.text
    assert _signed_in(browser)


def test_two_open_forms_share_the_cookie(browser: TestClient) -> None:
    """Opening the form again (another tab) keeps the cookie, so the first form still works."""
    first = form_token_of(browser.get("/login").text)
    cookie = browser.cookies["rs_form"]
    form_token_of(browser.get("/signup").text)
    assert browser.cookies["rs_form"] == cookie
    r = browser.post("/login", data={**CREDENTIALS, "csrf_token": first}, follow_redirects=False)
    assert r.status_code == 303


def test_a_wrong_password_shows_the_form_again_with_a_working_token(browser: TestClient) -> None:
    bad = post_form(browser, "/login", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    data = {**CREDENTIALS, "csrf_token": form_token_of(bad.text)}
    assert browser.post("/login", data=data, follow_redirects=False).status_code == 303


def test_over_https_the_cookie_is_host_prefixed_and_secure(settings: Settings) -> None:
    with TestClient(create_app(settings), base_url="https://testserver") as c:
        create_account(c, "alice", password=PASSWORD)
        c.headers.pop("Authorization", None)
        page = c.get("/login")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-rs_form=") and "secure" in cookie.lower()
        assert "domain" not in cookie.lower() and "path=/" in cookie.lower()
        # a plain rs_form cookie (one any sibling page could plant) does not count there
        value = c.cookies["__Host-rs_form"]
        c.cookies.clear()
        c.cookies.set("rs_form", value)
        data = {**CREDENTIALS, "csrf_token": form_token_of(page.text)}
        r = c.post("/login", data=data, follow_redirects=False)
        assert r.status_code == 403
        c.cookies.clear()
        c.cookies.set("__Host-rs_form", value)
        assert c.post("/login", data=data, follow_redirects=False).status_code == 303


def test_api_clients_are_unaffected(client: TestClient) -> None:
    """Bearer tokens need no form token: the API answers as before."""
    assert client.get("/api/v1/videos?owner=me").status_code == 200
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "5", "Upload-Metadata": "filename YS5tcDQ="}
    assert client.post("/api/v1/uploads", headers=tus).status_code == 201
