"""Accounts over HTTP: password hashing, sign-up / sign-in / sign-out, the session cookie and
CSRF, personal access tokens (scopes, revocation), sign-up switched off, the development
admin, and what a playback token survives."""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reelstream.app import create_app
from reelstream.auth.passwords import hash_password, needs_rehash, verify_password
from reelstream.config import Settings
from reelstream.errors import ConfigError
from tests.support import bearer, create_account, post_form
from tests.videos.factories import create_video, publish_fake

PASSWORD = "correct horse battery"


def make_video(client: TestClient, title: str, **kw: str) -> str:
    """A video row (see tests.videos.factories.create_video) in the app's event loop."""
    services = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal is not None
    return str(client.portal.call(functools.partial(create_video, services, title, **kw)))


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "the page has no CSRF meta tag"
    return match.group(1)


def sign_up(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign up through the form (which signs in); returns the session's CSRF token."""
    r = post_form(
        client, "/signup", {"username": username, "password": password}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/account").text)


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    """An app and a cookie-keeping client without any token."""
    with TestClient(create_app(settings)) as c:
        yield c


def test_passwords_are_argon2id_hashes_with_their_parameters() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert hashed != hash_password(PASSWORD)  # salted
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "!")
    assert not verify_password(None, PASSWORD)  # no hash (unknown user): never true
    assert not verify_password("not a hash", PASSWORD)
    assert not needs_rehash(hashed)


def test_sign_up_sets_a_safe_session_cookie_and_stores_only_hashes(browser: TestClient) -> None:
    r = post_form(
        browser,
        "/signup",
        {"username": "Alice", "password": PASSWORD, "email": "alice@example.com"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("rs_session=")
    for attribute in ("HttpOnly", "Path=/", "SameSite=lax"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # development mode over http only
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    page = browser.get("/").text
    assert 'id="nav-account">Alice<' in page

    services = browser.app.state.services  # type: ignore[attr-defined]

    async def stored() -> tuple[str, list[str]]:
        from sqlalchemy import select

        from reelstream.db.models import User, WebSession

        async with services.db.read(primary=True) as s:
            user = (await s.execute(select(User))).scalar_one()
            hashes = list((await s.execute(select(WebSession.token_hash))).scalars())
        assert user.password_hash is not None
        return user.password_hash, hashes

    assert browser.portal is not None
    password_hash, session_hashes = browser.portal.call(stored)
    assert PASSWORD not in password_hash and password_hash.startswith("$argon2id$")
    assert value not in session_hashes and len(session_hashes) == 1

    # the username is unique whatever its case; sign-in ignores the case too
    again = post_form(browser, "/signup", {"username": "alice", "password": PASSWORD})
    assert again.status_code == 409 and "taken" in again.text
    browser.cookies.clear()
    bad = post_form(browser, "/login", {"username": "alice", "password": "wrong password"})
    assert bad.status_code == 401 and "wrong username or password" in bad.text
    ok = post_form(
        browser,
        "/login",
        {"username": "ALICE", "password": PASSWORD, "next": "/me/videos"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/me/videos"
    evil = post_form(
        browser,
        "/login",
        {"username": "alice", "password": PASSWORD, "next": "//evil.example"},
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/"  # no open redirect


def test_the_cookie_is_secure_over_https(settings: Settings) -> None:
    with TestClient(create_app(settings), base_url="https://testserver") as c:
        r = post_form(
            c, "/signup", {"username": "bob", "password": PASSWORD}, follow_redirects=False
        )
        assert "secure" in r.headers["set-cookie"].lower()


def test_csrf_is_required_for_cookie_authenticated_unsafe_requests(browser: TestClient) -> None:
    csrf = sign_up(browser, "carol")
    assert browser.portal is not None
    vid = make_video(browser, "mine", owner="carol")
    url = f"/api/v1/videos/{vid}"
    assert browser.get(url).status_code == 200  # safe requests need no CSRF token

    missing = browser.patch(url, json={"title": "no token"})
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf_failed"
    wrong = browser.patch(url, json={"title": "wrong"}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "csrf_failed"
    right = browser.patch(url, json={"title": "right"}, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200 and right.json()["title"] == "right"

    # a Bearer token needs no CSRF token (and the cookie does not matter then)
    token = create_account(browser, "dave")
    make_video(browser, "d", owner="dave")
    theirs = browser.get("/api/v1/videos?owner=me", headers=bearer(token)).json()["items"][0]
    r = browser.patch(f"/api/v1/videos/{theirs['id']}", json={"title": "t"}, headers=bearer(token))
    assert r.status_code == 200

    # tus creation from the upload page: the same rule
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "5", "Upload-Metadata": "filename YS5tcDQ="}
    assert browser.post("/api/v1/uploads", headers=tus).status_code == 403
    assert browser.post("/api/v1/uploads", headers={**tus, "X-CSRF-Token": csrf}).status_code == 201

    # sign-out is a POST with the form's token
    assert browser.post("/logout", follow_redirects=False).status_code == 403
    out = browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert browser.get(url).status_code == 200  # public video: still visible
    assert browser.patch(url, json={"title": "gone"}).status_code == 401  # no session now
    r = browser.get("/account", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Faccount"


def test_access_tokens_scopes_and_revocation(browser: TestClient) -> None:
    csrf = sign_up(browser, "erin")
    created = browser.post(
        "/account/tokens", data={"name": "ci", "scopes": "read", "csrf_token": csrf}
    )
    assert created.status_code == 200 and created.history[0].status_code == 303  # PRG
    token = re.search(r'id="new-token">(rs_[A-Za-z0-9_-]{43})<', created.text)
    assert token, created.text
    read_only = token.group(1)
    assert browser.get("/account").text.count(read_only) == 0  # shown once only

    anon = TestClient(browser.app)
    anon.portal = browser.portal
    assert browser.portal is not None
    vid = make_video(browser, "p", visibility="private", owner="erin")
    assert anon.get(f"/api/v1/videos/{vid}", headers=bearer(read_only)).status_code == 200
    r = anon.patch(f"/api/v1/videos/{vid}", json={"title": "x"}, headers=bearer(read_only))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    bad = browser.post("/account/tokens", data={"name": "x", "scopes": "admin", "csrf_token": csrf})
    assert bad.status_code == 422 and "only admins" in bad.text
    page = browser.get("/account").text
    assert "ci" in page and "Last used" in page
    token_id = re.search(r'data-token-id="([A-Za-z0-9]{16})"', page)
    assert token_id
    revoked = browser.post(f"/account/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 200 and "revoked" in revoked.text
    r = anon.get(f"/api/v1/videos/{vid}", headers=bearer(read_only))
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    assert anon.get("/api/v1/videos", headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert anon.get("/api/v1/videos", headers=bearer("rs_" + "A" * 43)).status_code == 401


def test_an_admin_token_without_the_admin_scope_acts_as_a_user(browser: TestClient) -> None:
    assert browser.portal is not None
    create_account(browser, "owner")
    vid = make_video(browser, "x", visibility="private")
    plain = create_account(browser, "root", admin=True, scopes=("write",))
    full = create_account(browser, "root2", admin=True, scopes=("admin",))
    assert browser.get(f"/api/v1/videos/{vid}", headers=bearer(plain)).status_code == 403
    assert browser.get(f"/api/v1/videos/{vid}", headers=bearer(full)).status_code == 200


def test_signup_can_be_disabled(settings: Settings) -> None:
    assert Settings(env="production", _env_file=None).allow_signup is False
    assert Settings(env="development", _env_file=None).allow_signup is True
    settings.signup_enabled = False
    with TestClient(create_app(settings)) as c:
        assert c.get("/signup").status_code == 403
        r = c.post("/signup", data={"username": "mallory", "password": PASSWORD})
        assert r.status_code == 403 and "disabled" in r.text
        assert 'href="/signup"' not in c.get("/login").text
        login = post_form(c, "/login", {"username": "mallory", "password": PASSWORD})
        assert login.status_code == 401  # no account was created


def test_development_first_start_creates_an_admin_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.dev_admin = True
    with (
        caplog.at_level(logging.WARNING, logger="reelstream.auth.bootstrap"),
        TestClient(create_app(settings)),
    ):
        pass
    lines = [r.getMessage() for r in caplog.records if "first admin" in r.getMessage()]
    assert len(lines) == 1, lines
    password = re.search(r"password '([^']+)'", lines[0])
    assert password
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="reelstream.auth.bootstrap"),
        TestClient(create_app(settings)) as c,
    ):
        r = post_form(
            c,
            "/login",
            {"username": "admin", "password": password.group(1)},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert "admin" in c.get("/account").text
    assert not [r for r in caplog.records if "first admin" in r.getMessage()]  # only once


def test_development_only_settings_are_refused_in_production(settings: Settings) -> None:
    prod = settings.model_copy(
        update={"env": "production", "bootstrap_admin_token": SecretStr("rs_" + "a" * 43)}
    )
    with pytest.raises(ConfigError, match="development-only"):
        prod.prepare()
    bad = settings.model_copy(update={"bootstrap_admin_token": SecretStr("no-prefix")})
    with pytest.raises(ConfigError, match="rs_"):
        bad.prepare()


def test_a_playback_token_outlives_going_private_only_until_it_expires(
    settings: Settings,
) -> None:
    settings.public_playback_ttl_s = 2
    with TestClient(create_app(settings)) as c:
        owner = create_account(c, "owner")
        other = create_account(c, "other")
        services = c.app.state.services  # type: ignore[attr-defined]
        assert c.portal is not None
        vid = make_video(c, "was public")
        c.portal.call(publish_fake, services, vid)

        old = c.get(f"/api/v1/videos/{vid}/playback").json()  # anonymous, while public
        assert c.get(old["hls_url"]).status_code == 200
        r = c.patch(f"/api/v1/videos/{vid}", json={"visibility": "private"}, headers=bearer(owner))
        assert r.status_code == 200

        # nobody but the owner (and admins) can get a new token now
        assert c.get(f"/api/v1/videos/{vid}/playback").status_code == 401
        assert c.get(f"/api/v1/videos/{vid}/playback", headers=bearer(other)).status_code == 403
        mine = c.get(f"/api/v1/videos/{vid}/playback", headers=bearer(owner))
        assert mine.status_code == 200

        # the token issued before is stateless: it works until it expires, then never again
        assert c.get(old["hls_url"]).status_code == 200
        time.sleep(max(0.0, old_expiry(old["expires_at"]) - time.time()) + 1.1)
        expired = c.get(old["hls_url"])
        assert expired.status_code == 403 and expired.json()["error"]["code"] == "token_expired"
        assert c.get(mine.json()["hls_url"]).status_code == 200  # private TTL is longer


def old_expiry(expires_at: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(expires_at).timestamp()


def test_pages_send_anonymous_visitors_to_sign_in_and_list_my_videos(client: TestClient) -> None:
    anon = TestClient(client.app, follow_redirects=False)
    anon.portal = client.portal
    for path in ("/upload", "/me/videos", "/account"):
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert client.portal is not None
    ids = {
        v: make_video(client, f"my {v}", visibility=v) for v in ("public", "unlisted", "private")
    }
    page = client.get("/me/videos").text  # the client fixture's token: the user "owner"
    for v, vid in ids.items():
        assert vid in page and f"visibility-{v}" in page
    other = create_account(client, "stranger")
    theirs = client.get("/me/videos", headers=bearer(other)).text
    assert not any(vid in theirs for vid in ids.values())
