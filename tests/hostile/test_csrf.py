"""CSRF on cookie-authenticated writes: a browser carrying the owner's session cookie but not
the session's CSRF token (missing, wrong, another session's, in the query string, as a cookie,
a GET-tunnelled method) changes nothing: 403 ``csrf_failed``, the video keeps its title and
the upload in progress its offset. (Sign-in and sign-up CSRF are issue 9's defect 3, tested
in ``tests/auth``.)"""

from __future__ import annotations

from typing import Any

import pytest

from reelstream.auth import sessions
from reelstream.auth.accounts import find_user
from tests.hostile.conftest import World, error_code
from tests.ingest.helpers import OCTETS, TUS


def new_session(w: World, username: str) -> sessions.NewSession:
    async def make() -> sessions.NewSession:
        async with w.services.db.transaction() as s:
            user = await find_user(s, username)
            assert user is not None
            return await sessions.create_session(s, user.id, 3600)

    created: sessions.NewSession = w.run(make)
    return created


@pytest.fixture(scope="module")
def cookies(world: World) -> dict[str, Any]:
    mine, theirs = new_session(world, "owner"), new_session(world, "mallory")
    return {"cookie": mine.cookie, "csrf": mine.csrf_token, "other_csrf": theirs.csrf_token}


# (id, method, url, extra headers, json body, status, code); VIDEO and UPLOAD are replaced
CASES: list[tuple[str, str, str, dict[str, str], Any, int, str]] = [
    ("edit-no-token", "PATCH", "VIDEO", {}, {"title": "csrf"}, 403, "csrf_failed"),
    (
        "edit-wrong-token",
        "PATCH",
        "VIDEO",
        {"X-CSRF-Token": "x" * 43},
        {"title": "csrf"},
        403,
        "csrf_failed",
    ),
    (
        "edit-empty-token",
        "PATCH",
        "VIDEO",
        {"X-CSRF-Token": ""},
        {"title": "csrf"},
        403,
        "csrf_failed",
    ),
    (
        "edit-other-sessions-token",
        "PATCH",
        "VIDEO",
        {"X-CSRF-Token": "OTHER"},
        {"title": "csrf"},
        403,
        "csrf_failed",
    ),
    (
        "edit-token-in-query",
        "PATCH",
        "VIDEO?csrf_token=MINE",
        {},
        {"title": "csrf"},
        403,
        "csrf_failed",
    ),
    (
        "edit-token-as-cookie",
        "PATCH",
        "VIDEO",
        {"Cookie": "csrf_token=MINE"},
        {"title": "csrf"},
        403,
        "csrf_failed",
    ),
    (
        "edit-method-override",
        "POST",
        "VIDEO?_method=PATCH",
        {"X-HTTP-Method-Override": "PATCH"},
        {"title": "csrf"},
        405,
        "method_not_allowed",
    ),
    ("delete-no-token", "DELETE", "VIDEO", {}, None, 403, "csrf_failed"),
    ("visibility-no-token", "PATCH", "VIDEO", {}, {"visibility": "private"}, 403, "csrf_failed"),
    (
        "webhook-no-token",
        "POST",
        "/api/v1/webhooks",
        {},
        {"url": "https://hooks.example/x"},
        403,
        "csrf_failed",
    ),
    (
        "tus-create-no-token",
        "POST",
        "/api/v1/uploads",
        {**TUS, "Upload-Length": "5"},
        None,
        403,
        "csrf_failed",
    ),
    (
        "tus-patch-no-token",
        "PATCH",
        "UPLOAD",
        {**TUS, "Upload-Offset": "32768", "Content-Type": OCTETS},
        None,
        403,
        "csrf_failed",
    ),
    ("tus-delete-no-token", "DELETE", "UPLOAD", TUS, None, 403, "csrf_failed"),
]


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "status", "code"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_cookie_writes_need_the_csrf_token(
    intact: World,
    cookies: dict[str, Any],
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
    status: int,
    code: str,
) -> None:
    w = intact
    url = url.replace("VIDEO", f"/api/v1/videos/{w.video_id}").replace("UPLOAD", w.upload_url)
    url = url.replace("MINE", cookies["csrf"])
    sent = {
        k: v.replace("OTHER", cookies["other_csrf"]).replace("MINE", cookies["csrf"])
        for k, v in headers.items()
    }
    cookie = f"{sessions.COOKIE_NAME}={cookies['cookie']}"
    sent["Cookie"] = f"{cookie}; {sent['Cookie']}" if "Cookie" in sent else cookie
    r = w.request(method, url, None, headers=sent, json=body)
    assert r.status_code == status, r.text
    assert error_code(r) == code
    video = w.request("GET", f"/api/v1/videos/{w.video_id}").json()
    assert (video["title"], video["visibility"]) == ("bystander", "public")


def test_the_session_with_its_token_does_write(intact: World, cookies: dict[str, Any]) -> None:
    """The control case: the same cookie with its token is allowed (so the refusals above are
    about the token, not the cookie)."""
    w = intact
    sent = {
        "Cookie": f"{sessions.COOKIE_NAME}={cookies['cookie']}",
        "X-CSRF-Token": cookies["csrf"],
    }
    url = f"/api/v1/videos/{w.video_id}"
    r = w.request("PATCH", url, None, headers=sent, json={"title": "renamed"})
    assert r.status_code == 200, r.text
    r = w.request("PATCH", url, None, headers=sent, json={"title": "bystander"})
    assert r.status_code == 200, r.text
