"""View beacons and resume positions against the real HTTP API: counts are aggregated in
memory and written in batches (UPDATE statements counted on the engine), a player session
counts once, signed-in users get their position back, and the policy applies."""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.db.models import Video, WatchPosition
from reelstream.services import Services
from reelstream.videos import repository as repo
from reelstream.views.aggregator import ViewAggregator
from tests.auth.test_accounts import sign_up
from tests.support import bearer, create_account
from tests.videos.factories import create_video, publish_fake

BATCH = 4
VIEW_COUNT_UPDATE = re.compile(r"\s*UPDATE videos SET .*view_count\s*=", re.I | re.S)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.views_flush_batch = BATCH
    settings.views_flush_interval_s = 3600  # only batch, explicit and shutdown flushes here
    return settings


def viewer(client: TestClient, address: str) -> TestClient:
    """The same app as ``client``, without credentials, as seen from ``address``."""
    other = TestClient(client.app, client=(address, 50000))
    other.portal = client.portal
    return other


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def views_of(client: TestClient) -> ViewAggregator:
    views: ViewAggregator = client.app.state.views  # type: ignore[attr-defined]
    return views


def run(client: TestClient, fn: Any, *args: Any, **kw: Any) -> Any:
    assert client.portal is not None
    return client.portal.call(functools.partial(fn, *args, **kw))


def new_video(client: TestClient, title: str = "clip", visibility: str = "public") -> str:
    services = services_of(client)
    vid = str(run(client, create_video, services, title, visibility=visibility))
    run(client, publish_fake, services, vid)
    return vid


async def _stored_count(services: Services, vid: str) -> int:
    async with services.db.read(primary=True) as s:
        return int((await s.execute(select(Video.view_count).where(Video.id == vid))).scalar_one())


def stored_count(client: TestClient, vid: str) -> int:
    return int(run(client, _stored_count, services_of(client), vid))


@pytest.fixture
def updates(client: TestClient) -> Iterator[list[str]]:
    """The view-count UPDATE statements the app sends to the database."""
    seen: list[str] = []
    engine = services_of(client).db.writer.sync_engine

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if VIEW_COUNT_UPDATE.match(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    yield seen
    event.remove(engine, "before_cursor_execute", listen)


@pytest.mark.parametrize("n", [1, BATCH, 2 * BATCH + 1])
def test_n_views_make_ceil_n_over_batch_writes(
    client: TestClient, anon: TestClient, updates: list[str], n: int
) -> None:
    vid = new_video(client)
    for i in range(n):  # one viewer per address: a view counts once per address and window
        r = viewer(client, f"198.51.100.{i + 1}").post(
            f"/api/v1/videos/{vid}/views", json={"session": f"player-{i:04d}"}
        )
        assert r.status_code == 202, r.text
        assert r.json() == {"counted": True}
    assert len(updates) == n // BATCH  # each full batch was written at once, in one UPDATE
    assert stored_count(client, vid) == BATCH * (n // BATCH)
    run(client, views_of(client).flush)  # the periodic flush writes the rest
    assert len(updates) == math.ceil(n / BATCH)
    assert stored_count(client, vid) == n
    assert client.get(f"/api/v1/videos/{vid}").json()["view_count"] == n


def test_one_update_per_video_per_flush(client: TestClient, updates: list[str]) -> None:
    a, b = new_video(client, "a"), new_video(client, "b")
    for i, vid in enumerate([a, b, a]):
        viewer(client, f"198.51.100.{i + 1}").post(
            f"/api/v1/videos/{vid}/views", json={"session": f"session-{i:04d}"}
        )
    run(client, views_of(client).flush)
    assert len(updates) == 2
    assert (stored_count(client, a), stored_count(client, b)) == (2, 1)
    run(client, views_of(client).flush)  # nothing pending: no statement at all
    assert len(updates) == 2
    listed = {v["id"]: v["view_count"] for v in client.get("/api/v1/videos").json()["items"]}
    assert listed[a] == 2 and listed[b] == 1


def test_a_player_session_counts_once(client: TestClient, anon: TestClient) -> None:
    vid, other = new_video(client, "one"), new_video(client, "two")
    answers = [
        anon.post(f"/api/v1/videos/{vid}/views", json={"session": "same-session"}).json()
        for _ in range(3)
    ]
    assert answers == [{"counted": True}, {"counted": False}, {"counted": False}]
    # the same session id on another video is another view
    assert anon.post(f"/api/v1/videos/{other}/views", json={"session": "same-session"}).json()[
        "counted"
    ]
    run(client, views_of(client).flush)
    assert (stored_count(client, vid), stored_count(client, other)) == (1, 1)


def test_dedupe_window_expires() -> None:
    now = [0.0]
    agg = ViewAggregator(None, dedupe_window_s=60, flush_batch=1000, clock=lambda: now[0])  # type: ignore[arg-type]

    async def go() -> list[bool]:
        first = await agg.record_view("v", "session-1")
        again = await agg.record_view("v", "session-1")
        now[0] = 61
        later = await agg.record_view("v", "session-1")
        return [first, again, later]

    assert anyio.run(go) == [True, False, True]
    assert agg.pending_views == 2


def test_shutdown_flushes_pending_views(settings: Settings) -> None:
    with TestClient(create_app(settings)) as c:
        token = create_account(c, "owner")
        c.headers.update(bearer(token))
        vid = new_video(c)
        for i in range(BATCH - 1):
            viewer(c, f"198.51.100.{i + 1}").post(
                f"/api/v1/videos/{vid}/views", json={"session": f"player-{i:04d}"}
            )
        assert stored_count(c, vid) == 0
    with TestClient(create_app(settings)) as again:
        assert stored_count(again, vid) == BATCH - 1


def test_resume_round_trip_for_a_signed_in_user(client: TestClient, updates: list[str]) -> None:
    vid = new_video(client)
    assert client.get(f"/api/v1/videos/{vid}").json()["resume_position_s"] is None
    for position in (3.0, 10.5, 42.25):  # coalesced: one row written per flush
        r = client.post(
            f"/api/v1/videos/{vid}/progress",
            json={"session": "player-0001", "position_s": position},
        )
        assert r.status_code == 202 and r.json() == {"stored": True}, r.text
    # visible at once from this process, before any write
    assert client.get(f"/api/v1/videos/{vid}").json()["resume_position_s"] == 42.25
    run(client, views_of(client).flush)

    async def rows() -> list[tuple[str, float]]:
        async with services_of(client).db.read(primary=True) as s:
            got = await s.execute(select(WatchPosition.video_id, WatchPosition.position_s))
            return [(str(v), float(p)) for v, p in got.all()]

    assert run(client, rows) == [(vid, 42.25)]
    assert updates == []  # progress writes no view count
    # another user has no position; from the database after the flush
    other = create_account(client, "someone")
    assert (
        client.get(f"/api/v1/videos/{vid}", headers=bearer(other)).json()["resume_position_s"]
        is None
    )
    client.post(f"/api/v1/videos/{vid}/progress", json={"session": "player-0002", "position_s": 7})
    run(client, views_of(client).flush)
    assert client.get(f"/api/v1/videos/{vid}").json()["resume_position_s"] == 7


def test_beacons_from_a_browser_session_carry_the_csrf_token_in_the_form(
    settings: Settings,
) -> None:
    with TestClient(create_app(settings)) as browser:
        csrf = sign_up(browser, "viewer")
        vid = new_video(browser)
        form = {"session": "browser-session", "position_s": "12.5"}
        missing = browser.post(f"/api/v1/videos/{vid}/progress", data=form)
        assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf_failed"
        ok = browser.post(f"/api/v1/videos/{vid}/progress", data={**form, "csrf_token": csrf})
        assert ok.status_code == 202 and ok.json() == {"stored": True}, ok.text
        view = browser.post(f"/api/v1/videos/{vid}/views", data={**form, "csrf_token": csrf})
        assert view.json() == {"counted": True}
        assert browser.get(f"/api/v1/videos/{vid}").json()["resume_position_s"] == 12.5


def test_anonymous_viewers_count_but_have_no_resume(client: TestClient, anon: TestClient) -> None:
    vid = new_video(client)
    r = anon.post(f"/api/v1/videos/{vid}/progress", json={"session": "anon-0001", "position_s": 5})
    assert r.status_code == 202 and r.json() == {"stored": False}
    assert anon.get(f"/api/v1/videos/{vid}").json()["resume_position_s"] is None
    assert anon.post(f"/api/v1/videos/{vid}/views", json={"session": "anon-0001"}).json()["counted"]


def test_private_video_beacons_are_refused_to_others(client: TestClient, anon: TestClient) -> None:
    vid = new_video(client, visibility="private")
    other = bearer(create_account(client, "intruder"))
    body = {"session": "player-0001", "position_s": 3}
    for path in ("views", "progress"):
        denied = client.post(f"/api/v1/videos/{vid}/{path}", json=body, headers=other)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
        assert anon.post(f"/api/v1/videos/{vid}/{path}", json=body).status_code == 401
        assert client.post(f"/api/v1/videos/{vid}/{path}", json=body).status_code == 202
    run(client, views_of(client).flush)
    assert stored_count(client, vid) == 1  # the owner's view only


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"session": "x"},
        {"session": "player-0001", "position_s": -1},
        {"session": "player-0001", "position_s": "soon"},
        {"session": "player-0001", "position_s": "NaN"},
        {"session": "player-0001", "position_s": True},
        {"session": "bad session!", "position_s": 1},
        {"session": "player-0001\n", "position_s": 1},  # `$` would accept the newline
        {"session": "player-0001\r\n", "position_s": 1},
        {"session": "player-0001\x00", "position_s": 1},
    ],
)
def test_bad_beacons_are_422(client: TestClient, body: dict[str, Any]) -> None:
    vid = new_video(client)
    r = client.post(f"/api/v1/videos/{vid}/progress", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_beacon", r.text
    garbage = client.post(
        f"/api/v1/videos/{vid}/views", content=b"{", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 422
    if "session" in body:
        view = client.post(f"/api/v1/videos/{vid}/views", json={"session": body["session"]})
        bad = body["session"] != "player-0001"
        assert view.status_code == (422 if bad else 202), view.text


def test_unknown_video_is_404(client: TestClient) -> None:
    r = client.post("/api/v1/videos/AAAAAAAAAAAAAAAA/views", json={"session": "player-0001"})
    assert r.status_code == 404


async def _delete(services: Services, vid: str) -> None:
    async with services.db.transaction() as s:
        await repo.delete_video(s, vid)


def test_positions_of_deleted_videos_are_dropped(client: TestClient) -> None:
    vid, kept = new_video(client, "gone"), new_video(client, "kept")
    for v in (vid, kept):
        client.post(f"/api/v1/videos/{v}/progress", json={"session": "player-1", "position_s": 2})
    run(client, _delete, services_of(client), vid)
    run(client, views_of(client).flush)  # no foreign-key failure: the live row is written
    assert client.get(f"/api/v1/videos/{kept}").json()["resume_position_s"] == 2


def test_stop_lets_a_periodic_flush_finish(settings: Settings) -> None:
    """A flush in progress at shutdown is never cancelled halfway through its transaction."""
    settings.views_flush_interval_s = 0.05
    with TestClient(create_app(settings)) as c:
        token = create_account(c, "owner")
        c.headers.update(bearer(token))
        vid = new_video(c)
        views = views_of(c)
        real_write = views._write
        started: list[bool] = []
        written: list[bool] = []

        async def slow_write(*args: Any) -> None:
            started.append(True)
            await real_write(*args)
            await anyio.sleep(0.5)  # still inside flush() when the app stops
            written.append(True)

        views._write = slow_write  # type: ignore[method-assign,assignment]
        assert c.post(f"/api/v1/videos/{vid}/views", json={"session": "player-0001"}).json()[
            "counted"
        ]
        deadline = time.monotonic() + 10
        while not started and time.monotonic() < deadline:  # the periodic flush is writing
            time.sleep(0.01)
        assert started
    assert written == [True]
    with TestClient(create_app(settings)) as again:
        assert stored_count(again, vid) == 1
