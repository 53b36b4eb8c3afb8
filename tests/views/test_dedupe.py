"""View counts cannot be inflated: a view counts once per client address and video per
window, whatever ``session`` ids the client invents (issue 9, defect 4: 700 anonymous beacons
with random sessions in 8 s all counted), shared between api instances through Redis; the
beacons are rate limited per address with room for real players."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.devcluster.redis import RedisServer
from reelstream.views.aggregator import ViewAggregator
from tests.support import bearer, create_account
from tests.views.test_views import new_video, run, stored_count, viewer, views_of

BACKENDS = ["memory", "redis"]


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The app's settings on each dedupe backend: in memory, and shared in a real Redis."""
    settings.views_flush_interval_s = 3600  # flushed explicitly here
    if request.param == "redis":
        settings.redis_url = request.getfixturevalue("redis_url")
    return settings


@contextmanager
def app(settings: Settings, **changes: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update=changes))) as c:
        c.headers.update(bearer(create_account(c, f"owner{secrets.token_hex(4)}")))
        yield c


def view(c: TestClient, vid: str, session: str | None = None) -> Any:
    return c.post(f"/api/v1/videos/{vid}/views", json={"session": session or random_session()})


def random_session() -> str:
    return secrets.token_urlsafe(12)


def test_hundreds_of_random_sessions_from_one_address_count_once(
    backend_settings: Settings,
) -> None:
    with app(backend_settings) as c:
        vid = new_video(c)
        attacker = viewer(c, "203.0.113.66")
        answers = [view(attacker, vid) for _ in range(400)]
        assert {r.status_code for r in answers} == {202}
        assert [r.json()["counted"] for r in answers].count(True) == 1
        run(c, views_of(c).flush)
        assert stored_count(c, vid) == 1
        if backend_settings.redis_url is None:  # with Redis the metadata cache may lag (TTL)
            assert c.get(f"/api/v1/videos/{vid}").json()["view_count"] == 1


def test_two_addresses_count_twice(backend_settings: Settings) -> None:
    with app(backend_settings) as c:
        vid, other = new_video(c, "one"), new_video(c, "two")
        for address in ("203.0.113.1", "203.0.113.2"):
            for _ in range(3):
                view(viewer(c, address), vid)
        assert view(viewer(c, "203.0.113.1"), other).json()["counted"]  # another video
        run(c, views_of(c).flush)
        assert (stored_count(c, vid), stored_count(c, other)) == (2, 1)


def test_the_same_address_counts_again_after_the_window(backend_settings: Settings) -> None:
    with app(backend_settings, views_dedupe_window_s=1.0) as c:
        vid = new_video(c)
        client = viewer(c, "203.0.113.9")
        assert view(client, vid).json()["counted"]
        assert not view(client, vid).json()["counted"]
        time.sleep(1.2)
        assert view(client, vid).json()["counted"]
        run(c, views_of(c).flush)
        assert stored_count(c, vid) == 2


def test_instances_share_the_dedupe_through_redis(backend_settings: Settings) -> None:
    """Two api instances on one database: with Redis a client counts once in all; in memory
    once per instance (as documented)."""
    with app(backend_settings) as a, app(backend_settings) as b:
        vid = new_video(a)
        assert view(viewer(a, "203.0.113.5"), vid).json()["counted"]
        again = view(viewer(b, "203.0.113.5"), vid).json()["counted"]
        assert again is (backend_settings.redis_url is None)
        assert view(viewer(b, "203.0.113.6"), vid).json()["counted"]
        run(a, views_of(a).flush)
        run(b, views_of(b).flush)
        assert stored_count(a, vid) == (2 if backend_settings.redis_url else 3)


def test_a_redis_outage_falls_back_to_per_process_dedupe(
    settings: Settings, own_redis: RedisServer
) -> None:
    with app(settings, redis_url=own_redis.url) as c:
        vid = new_video(c)
        client = viewer(c, "203.0.113.7")
        assert view(client, vid).json()["counted"]
        own_redis.stop()
        answers = [view(client, vid) for _ in range(5)]
        assert {r.status_code for r in answers} == {202}
        assert not any(r.json()["counted"] for r in answers)
        assert view(viewer(c, "203.0.113.8"), vid).json()["counted"]  # others still count
        run(c, views_of(c).flush)
        assert stored_count(c, vid) == 2


def test_beacons_over_the_limit_are_429_with_a_reason(settings: Settings) -> None:
    with app(settings, rate_limit_beacons="5/minute") as c:
        vid = new_video(c)
        client = viewer(c, "203.0.113.10")
        assert view(client, vid).status_code == 202
        for position in range(4):
            r = client.post(
                f"/api/v1/videos/{vid}/progress",
                json={"session": "player-0001", "position_s": position},
            )
            assert r.status_code == 202
        for refused in (
            view(client, vid),
            client.post(
                f"/api/v1/videos/{vid}/progress", json={"session": "player-0001", "position_s": 9}
            ),
        ):
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            error = refused.json()["error"]
            assert error["code"] == "rate_limited"
            assert "too many player beacons from this address" in error["message"]
        assert view(viewer(c, "203.0.113.11"), vid).status_code == 202  # others unaffected
        run(c, views_of(c).flush)
        assert stored_count(c, vid) == 2


def test_real_players_behind_one_address_never_hit_the_default_limit(settings: Settings) -> None:
    """Ten players behind one NAT address, each in its busiest minute: a view, six periodic
    progress beacons, twenty seeks, two pauses and a hidden page (30 beacons each)."""
    assert settings.rate_limit_beacons == "600/minute"
    with app(settings) as c:
        vid = new_video(c)
        office = viewer(c, "203.0.113.20")
        remaining: list[int] = []
        for _ in range(10):
            session = random_session()
            assert view(office, vid, session).status_code == 202
            for n in range(29):
                r = office.post(
                    f"/api/v1/videos/{vid}/progress", json={"session": session, "position_s": n}
                )
                assert r.status_code == 202, r.text
                remaining.append(int(r.headers["RateLimit-Remaining"]))
        assert min(remaining) >= 300  # half the limit still free


def test_dedupe_keys_hold_no_address() -> None:
    agg = ViewAggregator(None, flush_batch=1000)  # type: ignore[arg-type]

    async def go() -> None:
        assert await agg.record_view("v", "192.0.2.1")
        assert not await agg.record_view("v", "192.0.2.1")

    anyio.run(go)
    assert not any("192.0.2.1" in key for key in agg._seen._seen)
