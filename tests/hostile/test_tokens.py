"""Playback tokens and API credentials: expired, tampered, re-dated, another video's, unknown
key, malformed; revoked, unknown and malformed access tokens; a read-scope token writing; a
token in the query string. Each refusal has its exact status, and nothing is changed."""

from __future__ import annotations

import time

import pytest

from reelstream.auth.accounts import find_user
from reelstream.auth.tokens_api import create_token, revoke_token
from tests.hostile.conftest import World, error_code
from tests.videos.factories import create_video


def _flip(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


# (id, how the token is made from (signer, video id, other video id))
PLAYBACK: list[tuple[str, str]] = [
    ("expired", "expired"),
    ("tampered-signature", "tampered"),
    ("re-dated-expiry", "redated"),
    ("other-videos-token", "other-video"),
    ("unknown-key-id", "unknown-kid"),
    ("missing-parts", "missing-parts"),
    ("garbage", "garbage"),
    ("dot-dot", "dotdot"),
]


def playback_token(w: World, how: str, other: str) -> str:
    signer = w.services.signer
    good = signer.sign(w.video_id, int(time.time()) + 600)
    kid, exp, sig = good.split(".")
    return {
        "expired": signer.sign(w.video_id, int(time.time()) - 5),
        "tampered": _flip(good),
        "redated": f"{kid}.{int(exp) + 10**6}.{sig}",
        "other-video": signer.sign(other, int(time.time()) + 600),
        "unknown-kid": f"zz{kid}.{exp}.{sig}",
        "missing-parts": f"{exp}.{sig}",
        "garbage": "not-a-token",
        "dotdot": "..",
    }[how]


@pytest.fixture(scope="module")
def other_video(world: World) -> str:
    vid: str = world.run(create_video, world.services, "someone else's", owner="mallory")
    return vid


@pytest.mark.parametrize("how", [pytest.param(c[1], id=c[0]) for c in PLAYBACK])
def test_bad_playback_token(intact: World, other_video: str, how: str) -> None:
    token = playback_token(intact, how, other_video)
    for path in ("master.m3u8", "v360/seg_00001.m4s"):
        r = intact.request("GET", f"/media/{intact.video_id}/{intact.rev}/{token}/{path}", None)
        assert r.status_code in {403, 404}, r.text
        if how == "dotdot":  # a path segment "..": the URL normalises away from the route
            assert r.status_code == 404
        else:
            assert r.status_code == 403, r.text
            assert error_code(r).startswith("token_") or error_code(r) == "forbidden"


@pytest.fixture(scope="module")
def revoked(world: World) -> str:
    async def make() -> str:
        async with world.services.db.transaction() as s:
            user = await find_user(s, "owner")
            assert user is not None
            plain, row = await create_token(s, user, "to revoke", ["write"])
        async with world.services.db.transaction() as s:
            await revoke_token(s, user.id, row.id)
        return plain

    token: str = world.run(make)
    return token


# (id, Authorization header (REVOKED: the revoked token), request, status, code)
CREDENTIALS: list[tuple[str, str | None, str, int, str]] = [
    ("basic-scheme", "Basic b3duZXI6cGFzc3dvcmQ=", "edit", 401, "not_authenticated"),
    ("bearer-empty", "Bearer ", "edit", 401, "not_authenticated"),
    ("bearer-only", "Bearer", "read", 401, "not_authenticated"),
    ("unknown-token", "Bearer rs_" + "A" * 43, "read", 401, "not_authenticated"),
    ("token-with-nul", "Bearer rs_%00", "read", 401, "not_authenticated"),
    ("revoked-token", "REVOKED", "edit", 401, "not_authenticated"),
    ("revoked-token-reading", "REVOKED", "read", 401, "not_authenticated"),
    ("over-long-token", "Bearer rs_" + "x" * 6000, "read", 401, "not_authenticated"),
    ("read-scope-writes", "READER", "edit", 403, "insufficient_scope"),
    ("read-scope-deletes", "READER", "delete", 403, "insufficient_scope"),
    ("read-scope-creates-webhook", "READER", "webhook", 403, "insufficient_scope"),
    ("other-user-edits", "OTHER", "edit", 403, "forbidden"),
    ("other-user-deletes", "OTHER", "delete", 403, "forbidden"),
    ("token-in-query-string", None, "edit-query", 401, "not_authenticated"),
    ("user-token-on-admin-api", "OTHER", "admin", 403, "forbidden"),
]


@pytest.mark.parametrize(
    ("authorization", "action", "status", "code"),
    [pytest.param(*c[1:], id=c[0]) for c in CREDENTIALS],
)
def test_bad_credentials(
    intact: World, revoked: str, authorization: str | None, action: str, status: int, code: str
) -> None:
    w = intact
    header = {
        "REVOKED": f"Bearer {revoked}",
        "READER": f"Bearer {w.tokens['reader']}",
        "OTHER": f"Bearer {w.tokens['other']}",
    }.get(authorization or "", authorization)
    headers = {"Authorization": header} if header is not None else {}
    video = f"/api/v1/videos/{w.video_id}"
    method, url, body = {
        "read": ("GET", video, None),
        "edit": ("PATCH", video, {"title": "owned"}),
        "edit-query": ("PATCH", f"{video}?access_token={w.tokens['owner']}", {"title": "owned"}),
        "delete": ("DELETE", video, None),
        "webhook": ("POST", "/api/v1/webhooks", {"url": "https://hooks.example/x"}),
        "admin": ("GET", "/api/v1/admin/jobs", None),
    }[action]
    r = w.request(method, url, None, headers=headers, json=body)
    assert r.status_code == status, r.text
    assert error_code(r) == code
    if status == 401:
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
