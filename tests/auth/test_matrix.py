"""The whole authorization matrix, over HTTP: anonymous / other user / owner / admin, times
public / unlisted / private, times every endpoint and page of each action.

The cases are generated from the policy table (``reelstream.auth.policy.POLICY``) and each is
checked against ``EXPECTED``, a second table written out here by hand: a wrong policy fails
``test_policy_is_the_expected_table`` and the HTTP cases, a route that ignores the policy fails
its HTTP case.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from reelstream.app import create_app
from reelstream.auth import policy
from reelstream.auth.accounts import find_user
from reelstream.config import Settings
from reelstream.ingest.service import build_upload_service
from reelstream.ingest.tus import VideoMetadata
from reelstream.services import Services
from tests.support import bearer, create_account
from tests.videos.factories import create_video, publish_fake

# Written by hand from the product rules, independently of reelstream.auth.policy:
# Y = allowed, N = denied; columns public, unlisted, private.
EXPECTED_TEXT = """
view      anonymous  Y Y N
view      user       Y Y N
view      owner      Y Y Y
view      admin      Y Y Y
playback  anonymous  Y Y N
playback  user       Y Y N
playback  owner      Y Y Y
playback  admin      Y Y Y
inspect   anonymous  N N N
inspect   user       N N N
inspect   owner      Y Y Y
inspect   admin      Y Y Y
edit      anonymous  N N N
edit      user       N N N
edit      owner      Y Y Y
edit      admin      Y Y Y
retry     anonymous  N N N
retry     user       N N N
retry     owner      Y Y Y
retry     admin      Y Y Y
delete    anonymous  N N N
delete    user       N N N
delete    owner      Y Y Y
delete    admin      Y Y Y
upload    anonymous  N N N
upload    user       N N N
upload    owner      Y Y Y
upload    admin      N N N
"""


def _parse(text: str) -> dict[tuple[str, str, str], bool]:
    table = {}
    for line in text.strip().splitlines():
        action, role, *cells = line.split()
        for visibility, cell in zip(("public", "unlisted", "private"), cells, strict=True):
            table[(action, role, visibility)] = cell == "Y"
    return table


EXPECTED = _parse(EXPECTED_TEXT)


def test_policy_is_the_expected_table() -> None:
    cells = {
        (a, r, v): policy.allowed(a, r, v)
        for a in policy.ACTIONS
        for r in policy.ROLES
        for v in policy.VISIBILITIES
    }
    assert cells == EXPECTED


# -- the world the cases run in ------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    services: Services
    tokens: dict[str, str]  # role -> token (no entry for anonymous)

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        assert self.client.portal is not None
        return self.client.portal.call(lambda: fn(*args, **kwargs))

    def headers(self, role: str) -> dict[str, str]:
        return bearer(self.tokens[role]) if role in self.tokens else {}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(
        env="development",
        data_dir=tmp_path_factory.mktemp("matrix") / "data",
        embedded_workers=False,
        dev_admin=False,
        _env_file=None,
    )
    with TestClient(create_app(settings)) as client:
        tokens = {
            "owner": create_account(client, "owner"),
            "user": create_account(client, "someone-else"),
            "admin": create_account(client, "boss", admin=True, scopes=("admin",)),
        }
        yield World(client, client.app.state.services, tokens)  # type: ignore[attr-defined]


def published_video(world: World, visibility: str) -> str:
    vid: str = world.run(create_video, world.services, "matrix", visibility=visibility)
    world.run(publish_fake, world.services, vid)
    return vid


def owned_upload(world: World, visibility: str) -> str:
    async def create() -> str:
        async with world.services.db.read(primary=True) as s:
            owner = await find_user(s, "owner")
        assert owner is not None
        state = await build_upload_service(world.services).create(
            length=10,
            metadata={"filename": "m.mp4"},
            video=VideoMetadata(filename="m.mp4", title="m", visibility=visibility),
            owner_id=owner.id,
        )
        return state.id

    return str(world.run(create))


TUS = {"Tus-Resumable": "1.0.0"}
HTML = {"Accept": "text/html"}  # a browser asking for a page (sign-in redirects, not 401s)

# endpoint name -> (action, request); the request returns the response and the statuses that
# mean "allowed" (an allowed request may still fail for a reason other than authorization,
# e.g. a caption for a fake rev: then it is anything but 401/403 and below 500).
Request = Callable[[World, str, dict[str, str]], Response]
ANY_ALLOWED: frozenset[int] = frozenset()


def _video(path: str, method: str = "GET", **kw: Any) -> Request:
    extra_headers: dict[str, str] = kw.pop("headers", {})

    def call(world: World, visibility: str, headers: dict[str, str]) -> Response:
        vid = published_video(world, visibility)
        return world.client.request(
            method,
            path.format(id=vid),
            headers={**headers, **extra_headers},
            follow_redirects=False,
            **kw,
        )

    return call


def _tus(method: str) -> Request:
    def call(world: World, visibility: str, headers: dict[str, str]) -> Response:
        upload_id = owned_upload(world, visibility)
        extra: dict[str, Any] = {}
        h = {**TUS, **headers}
        if method == "PATCH":
            h |= {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
            extra["content"] = b"0123456789"
        return world.client.request(method, f"/api/v1/uploads/{upload_id}", headers=h, **extra)

    return call


def _media(world: World, visibility: str, headers: dict[str, str]) -> Response:
    """The media through the playback URL: whoever gets one can fetch the master playlist;
    whoever cannot has no token, and a made-up one is refused."""
    vid = published_video(world, visibility)
    playback = world.client.get(f"/api/v1/videos/{vid}/playback", headers=headers)
    if playback.status_code == 200:
        return world.client.get(playback.json()["hls_url"])
    rev = world.run(_rev, world.services, vid)
    forged = f"/media/{vid}/{rev}/k1.{int(time.time()) + 600}.{'A' * 43}/master.m3u8"
    assert world.client.get(forged).status_code == 403
    return playback


async def _rev(services: Services, vid: str) -> str:
    from reelstream.videos import repository as repo

    async with services.db.read(primary=True) as s:
        rev = (await repo.get_video(s, vid)).published_rev
    assert rev
    return rev


ENDPOINTS: dict[str, tuple[policy.Action, Request, frozenset[int]]] = {
    "GET video": ("view", _video("/api/v1/videos/{id}"), frozenset({200})),
    "GET captions": ("view", _video("/api/v1/videos/{id}/captions"), frozenset({200})),
    "GET timeline": ("inspect", _video("/api/v1/videos/{id}/timeline"), frozenset({200})),
    "page /watch": ("view", _video("/watch/{id}"), frozenset({200})),
    # the embed page never redirects (the sign-in page cannot be framed): 403 for anyone refused
    "page /embed": ("view", _video("/embed/{id}"), frozenset({200})),
    "POST views beacon": (
        "view",
        _video("/api/v1/videos/{id}/views", "POST", json={"session": "matrix-session"}),
        frozenset({202}),
    ),
    "POST progress beacon": (
        "view",
        _video(
            "/api/v1/videos/{id}/progress",
            "POST",
            json={"session": "matrix-session", "position_s": 1.5},
        ),
        frozenset({202}),
    ),
    "GET playback": ("playback", _video("/api/v1/videos/{id}/playback"), frozenset({200})),
    "media via playback URL": ("playback", _media, frozenset({200})),
    "PATCH video": (
        "edit",
        _video("/api/v1/videos/{id}", "PATCH", json={"title": "renamed"}),
        frozenset({200}),
    ),
    "POST caption": (
        "edit",
        _video(
            "/api/v1/videos/{id}/captions?lang=en",
            "POST",
            content=b"WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n",
            headers={"content-type": "text/vtt"},
        ),
        ANY_ALLOWED,
    ),
    "DELETE caption": (
        "edit",
        _video("/api/v1/videos/{id}/captions/en", "DELETE"),
        ANY_ALLOWED,  # allowed; then the fake rev cannot take captions (409)
    ),
    "POST poster": (
        "edit",
        _video("/api/v1/videos/{id}/poster", "POST", json={"at_s": 0}),
        ANY_ALLOWED,
    ),
    "POST retry video": (
        "retry",
        _video("/api/v1/videos/{id}/retry", "POST"),
        frozenset({409}),  # allowed; a ready video has nothing to retry
    ),
    "POST retry rendition": (
        "retry",
        _video("/api/v1/videos/{id}/renditions/v240/retry", "POST"),
        ANY_ALLOWED,  # allowed; then 404/409 (the fake publish has no timeline)
    ),
    "DELETE video": ("delete", _video("/api/v1/videos/{id}", "DELETE"), frozenset({204})),
    # the studio's page and forms (reelstream.web.studio), as a browser sends them
    "page /studio": ("edit", _video("/studio/{id}", headers=HTML), frozenset({200})),
    "page POST /studio (edit)": (
        "edit",
        _video("/studio/{id}", "POST", data={"title": "renamed"}, headers=HTML),
        frozenset({303}),
    ),
    "page POST /studio captions": (
        "edit",
        _video(
            "/studio/{id}/captions",
            "POST",
            data={"lang": "en"},
            files={"file": ("en.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n", "text/vtt")},
            headers=HTML,
        ),
        ANY_ALLOWED,  # allowed; then the fake rev cannot take captions (409)
    ),
    "page POST /studio caption delete": (
        "edit",
        _video("/studio/{id}/captions/en/delete", "POST", headers=HTML),
        ANY_ALLOWED,
    ),
    "page POST /studio poster": (
        "edit",
        _video("/studio/{id}/poster", "POST", data={"at_s": "0"}, headers=HTML),
        ANY_ALLOWED,  # allowed; then the fake publish has no duration (422)
    ),
    "page /studio delete": (
        "delete",
        _video("/studio/{id}/delete", headers=HTML),
        frozenset({200}),
    ),
    "page POST /studio delete": (
        "delete",
        _video("/studio/{id}/delete", "POST", data={"confirm": "yes"}, headers=HTML),
        frozenset({303}),
    ),
    "tus HEAD": ("upload", _tus("HEAD"), frozenset({200})),
    "tus PATCH": ("upload", _tus("PATCH"), frozenset({204})),
    "tus DELETE": ("upload", _tus("DELETE"), frozenset({204})),
}

CASES = [
    pytest.param(name, role, visibility, id=f"{name}-{role}-{visibility}")
    for name, (action, _, _) in ENDPOINTS.items()
    for role in policy.ROLES
    for visibility in policy.VISIBILITIES
    if action in policy.POLICY  # generated from the policy table's actions
]


def test_every_action_has_endpoints() -> None:
    assert {action for action, _, _ in ENDPOINTS.values()} == set(policy.ACTIONS)


@pytest.mark.parametrize(("endpoint", "role", "visibility"), CASES)
def test_matrix(world: World, endpoint: str, role: str, visibility: str) -> None:
    action, request, ok = ENDPOINTS[endpoint]
    expected = EXPECTED[(action, role, visibility)]
    assert policy.allowed(action, role, visibility) == expected  # type: ignore[arg-type]
    r = request(world, visibility, world.headers(role))
    if expected:
        if ok:
            assert r.status_code in ok, r.text
        else:
            assert r.status_code not in (401, 403) and r.status_code < 500, r.text
        return
    is_page = endpoint.startswith("page ")
    has_body = r.request.method != "HEAD"
    if role == "anonymous" and endpoint != "page /embed":
        if is_page:
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        else:
            assert r.status_code == 401, r.text
            assert not has_body or r.json()["error"]["code"] == "not_authenticated"
    else:
        assert r.status_code == 403, r.text
        if not is_page and has_body:
            assert r.json()["error"]["code"] == "forbidden"
            assert r.json()["error"]["message"]


# -- listing -------------------------------------------------------------------------------


def test_listing_shows_public_videos_and_owner_me_shows_all_of_mine(world: World) -> None:
    ids = {v: published_video(world, v) for v in policy.VISIBILITIES}
    for role in policy.ROLES:
        listed = world.client.get("/api/v1/videos?limit=100", headers=world.headers(role)).json()
        got = {v["id"] for v in listed["items"]}
        assert ids["public"] in got
        assert ids["unlisted"] not in got and ids["private"] not in got
        page = world.client.get("/", headers=world.headers(role)).text
        assert ids["public"] in page and ids["private"] not in page
    mine = world.client.get("/api/v1/videos?owner=me&limit=100", headers=world.headers("owner"))
    assert set(ids.values()) <= {v["id"] for v in mine.json()["items"]}
    others = world.client.get("/api/v1/videos?owner=me", headers=world.headers("user"))
    assert not set(ids.values()) & {v["id"] for v in others.json()["items"]}
    anon = world.client.get("/api/v1/videos?owner=me")
    assert anon.status_code == 401


def test_creating_an_upload_needs_a_user_with_write(world: World, tmp_path: Path) -> None:
    headers = {**TUS, "Upload-Length": "5", "Upload-Metadata": "filename YS5tcDQ="}
    assert world.client.post("/api/v1/uploads", headers=headers).status_code == 401
    read_only = create_account(world.client, "reader", scopes=("read",))
    r = world.client.post("/api/v1/uploads", headers={**headers, **bearer(read_only)})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    r = world.client.post("/api/v1/uploads", headers={**headers, **world.headers("user")})
    assert r.status_code == 201
    mine = world.client.get("/api/v1/videos?owner=me", headers=world.headers("user")).json()
    assert r.headers["Video-Id"] in {v["id"] for v in mine["items"]}


# -- user management: one table for the API and the pages ----------------------------------

ADMIN_ONLY = [
    ("PATCH", "/api/v1/admin/users/{id}", {"json": {"disabled": False}}, 200),
    ("POST", "/api/v1/admin/users/{id}/password", {"json": {"password": "matrix password"}}, 200),
    ("GET", "/admin/users", {}, 200),
    ("POST", "/admin/users/{id}/access", {"data": {"disabled": "false"}}, 303),
    ("POST", "/admin/users/{id}/password", {"data": {"password": "matrix password"}}, 303),
]


@pytest.mark.parametrize(("method", "path", "kw", "ok"), ADMIN_ONLY, ids=lambda v: str(v)[:40])
def test_user_management_is_for_admins_only(
    world: World, method: str, path: str, kw: dict[str, Any], ok: int
) -> None:
    target = world.run(_user_id, world.services, "someone-else")
    url = path.format(id=target)
    is_page = not path.startswith("/api/")
    for role in policy.ROLES:
        headers = world.headers(role)
        r = world.client.request(method, url, headers=headers, follow_redirects=False, **kw)
        if role == "admin":
            assert r.status_code == ok, r.text
        elif role == "anonymous":
            expected = 303 if is_page and method == "GET" else 401  # a page GET: sign in
            assert r.status_code == expected, (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)


async def _user_id(services: Services, username: str) -> str:
    async with services.db.read(primary=True) as s:
        user = await find_user(s, username)
    assert user is not None
    return user.id
