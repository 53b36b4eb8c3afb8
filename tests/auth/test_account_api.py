"""The signed-in user's own account: changing the password (API and page), the signed-in
browsers (list, sign one out, sign out the others) and the access-token form's
POST-redirect-GET that shows a new token once."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.web.flash import FlashKeeper
from tests.support import bearer, csrf_of, post_form, sign_up_session

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def browser_of(app_client: TestClient) -> TestClient:
    """Another cookie jar on the same app: another browser."""
    other = TestClient(app_client.app)
    other.portal = app_client.portal
    return other


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> int:
    r = post_form(
        client, "/login", {"username": username, "password": password}, follow_redirects=False
    )
    return r.status_code


def csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": csrf_of(client.get("/account").text)}


def signed_out(client: TestClient) -> bool:
    r = client.get("/account", follow_redirects=False)
    return r.status_code == 303 and r.headers["location"].startswith("/login")


def new_token(client: TestClient, name: str, *scopes: str) -> str:
    token = csrf_of(client.get("/account").text)
    form = {"name": name, "scopes": list(scopes), "csrf_token": token}
    page = client.post("/account/tokens", data=form)
    found = re.search(r'id="new-token">(rs_[A-Za-z0-9_-]{43})<', page.text)
    assert found, page.text
    return found.group(1)


def test_change_password_over_the_api_ends_the_other_sessions(app_client: TestClient) -> None:
    first = app_client
    sign_up_session(first, "pat", PASSWORD)
    second = browser_of(app_client)
    assert sign_in(second, "pat") == 303
    reader = new_token(first, "read only", "read")
    writer = new_token(first, "writer", "read", "write")
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}

    r = first.post("/api/v1/me/password", json=body)  # a cookie without its CSRF token
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = browser_of(app_client).post("/api/v1/me/password", json=body, headers=bearer(reader))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    r = first.post(
        "/api/v1/me/password", json={**body, "current_password": "wrong!!!!"}, headers=csrf(first)
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"] == {
        "code": "wrong_password",
        "message": "the current password is wrong",
    }
    r = first.post(
        "/api/v1/me/password", json={**body, "new_password": "short"}, headers=csrf(first)
    )
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "a password has at least 8 and at most 1024 characters"
    assert not signed_out(second)  # the refusals changed nothing

    r = first.post("/api/v1/me/password", json=body, headers=csrf(first))
    assert r.status_code == 200 and r.json() == {"changed": True, "sessions_ended": 1}
    assert signed_out(second) and not signed_out(first)  # this session stays
    assert sign_in(browser_of(app_client), "pat", PASSWORD) == 401
    assert sign_in(browser_of(app_client), "pat", NEW_PASSWORD) == 303
    # an access token survives it and may change it again (then every session ends)
    r = browser_of(app_client).post(
        "/api/v1/me/password",
        json={"current_password": NEW_PASSWORD, "new_password": PASSWORD},
        headers=bearer(writer),
    )
    assert r.status_code == 200 and r.json()["sessions_ended"] == 2
    assert signed_out(first)


def test_change_password_through_the_account_form(app_client: TestClient) -> None:
    token = sign_up_session(app_client, "quinn", PASSWORD)
    other = browser_of(app_client)
    assert sign_in(other, "quinn") == 303
    page = app_client.get("/account").text
    assert "signs out every other browser" in page and 'id="password-form"' in page
    form = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD + "x",
        "csrf_token": token,
    }
    r = app_client.post("/account/password", data=form)
    assert r.status_code == 422 and "the two new passwords differ" in r.text
    r = app_client.post("/account/password", data={**form, "new_password_again": NEW_PASSWORD})
    assert r.status_code == 200 and r.history[0].status_code == 303
    assert "Your password was changed" in r.text
    assert signed_out(other) and not signed_out(app_client)
    assert sign_in(browser_of(app_client), "quinn", NEW_PASSWORD) == 303


def test_sessions_list_and_sign_out_by_opaque_id(app_client: TestClient) -> None:
    sign_up_session(app_client, "rae", PASSWORD)
    second, third = browser_of(app_client), browser_of(app_client)
    assert sign_in(second, "rae") == 303 and sign_in(third, "rae") == 303
    listed = app_client.get("/api/v1/me/sessions").json()["sessions"]
    assert len(listed) == 3 and listed[0]["current"] and not any(s["current"] for s in listed[1:])
    cookie = second.cookies["rs_session"]
    ids = {s["id"] for s in listed}
    stored = hashlib.sha256(cookie.encode()).hexdigest()
    assert cookie not in ids and not any(stored.startswith(i) or i in stored for i in ids)
    second_id = next(
        s["id"] for s in second.get("/api/v1/me/sessions").json()["sessions"] if s["current"]
    )

    # a credential is not an id: neither the cookie nor its stored hash ends a session
    for guess in (cookie, stored[:32], stored):
        r = app_client.delete(f"/api/v1/me/sessions/{guess}", headers=csrf(app_client))
        assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
    r = app_client.delete(f"/api/v1/me/sessions/{second_id}")  # no CSRF token
    assert r.status_code == 403
    r = app_client.delete(f"/api/v1/me/sessions/{second_id}", headers=csrf(app_client))
    assert r.status_code == 204
    assert signed_out(second) and second.get("/api/v1/me/sessions").status_code == 401
    assert len(app_client.get("/api/v1/me/sessions").json()["sessions"]) == 2
    # someone else's session is not yours to end
    stranger = browser_of(app_client)
    sign_up_session(stranger, "stranger", PASSWORD)
    mine = app_client.get("/api/v1/me/sessions").json()["sessions"][1]["id"]
    assert stranger.delete(f"/api/v1/me/sessions/{mine}", headers=csrf(stranger)).status_code == 404

    r = app_client.delete("/api/v1/me/sessions", headers=csrf(app_client))
    assert r.status_code == 200 and r.json() == {"sessions_ended": 1}
    assert signed_out(third) and not signed_out(app_client) and not signed_out(stranger)
    page = app_client.get("/account").text
    assert "This browser" in page and 'id="end-others"' not in page  # nobody else left


def test_the_account_page_signs_out_other_sessions(app_client: TestClient) -> None:
    token = sign_up_session(app_client, "sam", PASSWORD)
    second, third = browser_of(app_client), browser_of(app_client)
    assert sign_in(second, "sam") == 303 and sign_in(third, "sam") == 303
    page = app_client.get("/account").text
    ends = re.findall(r'action="/account/sessions/([0-9a-f]{32})/end"', page)
    assert len(ends) == 2  # not for this browser
    second_id = next(
        s["id"] for s in second.get("/api/v1/me/sessions").json()["sessions"] if s["current"]
    )
    assert second_id in ends
    r = app_client.post(f"/account/sessions/{second_id}/end", data={"csrf_token": token})
    assert r.status_code == 200 and "That session was signed out" in r.text
    assert signed_out(second) and not signed_out(third)
    r = app_client.post("/account/sessions/end-others", data={"csrf_token": token})
    assert r.status_code == 200 and "Every other session was signed out" in r.text
    assert signed_out(third) and not signed_out(app_client)
    assert app_client.post("/account/sessions/end-others", data={}).status_code == 403  # CSRF


def test_a_new_token_is_shown_once_after_a_redirect(app_client: TestClient) -> None:
    token = sign_up_session(app_client, "tess", PASSWORD)
    page = app_client.get("/account").text
    for scope in ("read", "write"):
        assert f'value="{scope}" checked' in page
    assert 'value="admin"' not in page  # not an admin
    assert "Upload, edit and delete your videos" in page and "including your own private" in page

    form = {"name": "laptop", "scopes": ["read", "write"], "csrf_token": token}
    r = app_client.post("/account/tokens", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account")
    cookie = r.cookies["rs_flash_token"]
    assert "rs_" not in r.headers["location"] and "rs_" not in cookie
    shown = app_client.get(r.headers["location"])
    plain = re.search(r'id="new-token">(rs_[A-Za-z0-9_-]{43})<', shown.text)
    assert plain and "you will not see it again" in shown.text and 'id="copy-token"' in shown.text
    assert "rs_flash_token" not in app_client.cookies  # deleted on display
    again = app_client.get("/account").text  # a reload: not shown, nothing created
    assert plain.group(1) not in again and 'id="new-token"' not in again
    assert again.count("data-token-id=") == 1
    # the token works, with write (uploads need it)
    anon = browser_of(app_client)
    r = anon.get("/api/v1/me/sessions", headers=bearer(plain.group(1)))
    assert r.status_code == 200
    # the flash cookie opens in its own session only
    other = browser_of(app_client)
    assert sign_in(other, "tess") == 303
    other.cookies.set("rs_flash_token", cookie, path="/account")
    assert plain.group(1) not in other.get("/account").text
    # a refused form is the page again with the reason, and creates nothing
    r = app_client.post("/account/tokens", data={"name": "x", "csrf_token": token})
    assert r.status_code == 422 and "scopes must be some of" in r.text
    assert app_client.get("/account").text.count("data-token-id=") == 1


def test_flash_cookies_are_bound_to_kind_session_and_time() -> None:
    keeper = FlashKeeper("k" * 32)
    seed = keeper.new_seed()
    sealed = keeper.seal("token", "session-a", "T0K3N1D", seed, now=1000)
    opened = keeper.open("token", "session-a", sealed, now=1100)
    assert opened is not None and opened.ref == "T0K3N1D"
    assert opened.secret == keeper.secret("token", seed) and seed not in opened.secret
    assert keeper.open("token", "session-b", sealed, now=1100) is None
    assert keeper.open("password", "session-a", sealed, now=1100) is None
    assert keeper.open("token", "session-a", sealed, now=1000 + 121) is None
    assert keeper.open("token", "session-a", sealed.replace("T0K3N1D", "0THER1D"), now=1100) is None
    assert FlashKeeper("x" * 32).open("token", "session-a", sealed, now=1100) is None
    assert keeper.open("token", None, sealed, now=1100) is None
