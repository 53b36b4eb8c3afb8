"""User management by admins, over the API and the /admin/users page: disable and enable,
promote and demote, reset a password; admins only, never themselves, never the last active
admin."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from reelstream.admin import users
from reelstream.admin.errors import LastAdmin
from reelstream.auth.accounts import find_user
from reelstream.auth.deps import Principal
from reelstream.auth.tokens_api import ALL_SCOPES
from reelstream.web.admin_users import GENERATED_LENGTH
from tests.admin.conftest import Admin
from tests.support import bearer, csrf_of, post_form

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct horse battery"


async def _user_id(admin: Admin, username: str) -> str:
    async with admin.services.db.read(primary=True) as s:
        user = await find_user(s, username)
    assert user is not None
    return user.id


def user_id(admin: Admin, username: str) -> str:
    return str(admin.run(_user_id, admin, username))


def can_sign_in(admin: Admin, username: str, password: str) -> tuple[int, str]:
    c = TestClient(admin.client.app)
    c.portal = admin.client.portal
    r = post_form(c, "/login", {"username": username, "password": password}, follow_redirects=False)
    return r.status_code, r.text


def test_only_admins_acting_as_admins_manage_users(admin: Admin) -> None:
    someone = user_id(admin, "someone")
    for role, status in (("anonymous", 401), ("owner", 403), ("half", 403)):
        h = admin.headers(role)
        r = admin.anon.patch(f"/api/v1/admin/users/{someone}", json={"disabled": True}, headers=h)
        assert r.status_code == status, (role, r.text)
        r = admin.anon.post(f"/api/v1/admin/users/{someone}/password", headers=h)
        assert r.status_code == status, (role, r.text)
    r = admin.as_admin("GET", "/api/v1/admin/users")
    assert not next(u for u in r.json()["users"] if u["username"] == "someone")["disabled"]
    assert admin.as_admin("PATCH", "/api/v1/admin/users/nobody", json={}).status_code == 404
    r = admin.as_admin("PATCH", f"/api/v1/admin/users/{someone}", json={"disabled": "maybe"})
    assert r.status_code == 422


def test_disable_ends_sessions_and_tokens_until_enabled(
    admin: Admin, session_client: Callable[[str], TestClient]
) -> None:
    browser = session_client("dora")
    dora = user_id(admin, "dora")
    token = admin.run(_token_of, admin, "dora")
    assert admin.anon.get("/api/v1/me/usage", headers=bearer(token)).status_code == 200

    r = admin.as_admin("PATCH", f"/api/v1/admin/users/{dora}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] and r.json()["username"] == "dora"
    assert browser.get("/account", follow_redirects=False).status_code == 303  # signed out
    r = admin.anon.get("/api/v1/me/usage", headers=bearer(token))
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    status, page = can_sign_in(admin, "dora", PASSWORD)
    assert status == 401 and "this account is disabled" in page
    status, page = can_sign_in(admin, "dora", "not her password")
    assert status == 401 and "wrong username or password" in page  # no hint without it

    r = admin.as_admin("PATCH", f"/api/v1/admin/users/{dora}", json={"disabled": False})
    assert r.status_code == 200 and not r.json()["disabled"]
    assert admin.anon.get("/api/v1/me/usage", headers=bearer(token)).status_code == 200
    assert can_sign_in(admin, "dora", PASSWORD)[0] == 303


async def _token_of(admin: Admin, username: str) -> str:
    from reelstream.auth.tokens_api import create_token

    async with admin.services.db.transaction() as s:
        user = await find_user(s, username)
        assert user is not None
        plain, _ = await create_token(s, user, "t", ["write"])
    return plain


def test_promote_demote_and_the_rules_about_yourself(
    admin: Admin, session_client: Callable[[str], TestClient]
) -> None:
    browser = session_client("eve")
    eve = user_id(admin, "eve")
    assert browser.get("/admin/users").status_code == 403
    r = admin.as_admin("PATCH", f"/api/v1/admin/users/{eve}", json={"is_admin": True})
    assert r.status_code == 200 and r.json()["is_admin"]
    assert browser.get("/admin/users").status_code == 200  # at once, same session
    # eve (an admin now) cannot demote, disable nor reset herself
    token = {"X-CSRF-Token": csrf_of(browser.get("/account").text)}
    for body in ({"is_admin": False}, {"disabled": True}):
        r = browser.patch(f"/api/v1/admin/users/{eve}", json=body, headers=token)
        assert r.status_code == 409 and r.json()["error"]["code"] == "cannot_change_self"
    r = browser.post(f"/api/v1/admin/users/{eve}/password", headers=token)
    assert r.status_code == 409 and "account page" in r.json()["error"]["message"]
    # ... but may demote the other admin
    boss = user_id(admin, "boss")
    r = browser.patch(f"/api/v1/admin/users/{boss}", json={"is_admin": False}, headers=token)
    assert r.status_code == 200 and not r.json()["is_admin"]
    assert admin.as_admin("GET", "/api/v1/admin/users").status_code == 403  # boss: no more


def test_the_last_active_admin_stays(admin: Admin) -> None:
    """Two admins demoting each other at once: the second change finds the first done."""
    boss, half = user_id(admin, "boss"), user_id(admin, "halfadmin")
    r = admin.as_admin("PATCH", f"/api/v1/admin/users/{half}", json={"is_admin": False})
    assert r.status_code == 200
    stale = Principal(id=half, username="halfadmin", is_admin=True, scopes=ALL_SCOPES, via="token")
    for change in ({"is_admin": False}, {"disabled": True}):
        with pytest.raises(LastAdmin, match="boss is the last active admin"):
            admin.run(users.update_user, admin.services, stale, boss, **change)


def test_reset_password_generated_or_chosen(
    admin: Admin, session_client: Callable[[str], TestClient]
) -> None:
    browser = session_client("fay")
    fay = user_id(admin, "fay")
    r = admin.as_admin("POST", f"/api/v1/admin/users/{fay}/password")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["generated"] and body["sessions_ended"] and body["username"] == "fay"
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", body["password"])
    assert browser.get("/account", follow_redirects=False).status_code == 303  # signed out
    assert can_sign_in(admin, "fay", PASSWORD)[0] == 401
    assert can_sign_in(admin, "fay", body["password"])[0] == 303

    r = admin.as_admin("POST", f"/api/v1/admin/users/{fay}/password", json={"password": "short"})
    assert r.status_code == 422 and "at least 8" in r.json()["error"]["message"]
    r = admin.as_admin(
        "POST", f"/api/v1/admin/users/{fay}/password", json={"password": "chosen by the admin"}
    )
    assert r.status_code == 200 and r.json()["password"] is None and not r.json()["generated"]
    assert can_sign_in(admin, "fay", "chosen by the admin")[0] == 303


def test_the_users_page_disables_promotes_and_resets(
    admin: Admin, session_client: Callable[[str], TestClient]
) -> None:
    boss = session_client("admin-gus")
    token = csrf_of(boss.get("/account").text)
    page = boss.get("/admin/users")
    assert page.status_code == 200 and 'class="table-scroll"' in page.text
    someone, owner, me = (
        user_id(admin, "someone"),
        user_id(admin, "owner"),
        user_id(admin, "admin-gus"),
    )
    assert f'action="/admin/users/{me}/access"' not in page.text  # no buttons for yourself
    r = boss.post(f"/admin/users/{someone}/access", data={"disabled": "true", "csrf_token": token})
    assert r.status_code == 200 and "someone was disabled" in r.text
    assert 'class="user-disabled"' in r.text
    r = boss.post(f"/admin/users/{owner}/access", data={"is_admin": "true", "csrf_token": token})
    assert r.status_code == 200 and "owner is now an admin" in r.text
    r = boss.post(f"/admin/users/{me}/access", data={"disabled": "true", "csrf_token": token})
    assert r.status_code == 409 and "you cannot disable yourself" in r.text
    r = boss.post(f"/admin/users/{owner}/access", data={"csrf_token": token})
    assert r.status_code == 422
    assert boss.post(f"/admin/users/{owner}/access", data={"is_admin": "false"}).status_code == 403

    # a generated password: shown once after the redirect, and it works
    r = boss.post(
        f"/admin/users/{someone}/password",
        data={"password": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "rs_flash_password" in r.headers["set-cookie"]
    shown = boss.get(r.headers["location"])
    found = re.search(r'id="generated-password">([A-Za-z0-9_-]+)<', shown.text)
    assert found and len(found.group(1)) == GENERATED_LENGTH
    assert "you will not see it again" in shown.text
    assert 'id="generated-password"' not in boss.get("/admin/users").text  # a reload: gone
    admin.as_admin("PATCH", f"/api/v1/admin/users/{someone}", json={"disabled": False})
    assert can_sign_in(admin, "someone", found.group(1))[0] == 303

    # a non-admin's session gets the 403 page and changes nothing
    plain = session_client("hal")
    other = csrf_of(plain.get("/account").text)
    assert plain.get("/admin/users").status_code == 403
    r = plain.post(f"/admin/users/{someone}/access", data={"disabled": "true", "csrf_token": other})
    assert r.status_code == 403 and "only admins" in r.text
    r = admin.as_admin("GET", "/api/v1/admin/users")
    assert not next(u for u in r.json()["users"] if u["username"] == "someone")["disabled"]
