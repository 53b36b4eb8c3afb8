"""The hot read path over HTTP: anonymous reads served from the local tier (no query), the same
JSON as the ordinary path, and every write seen at once, in this app and in another app
sharing the data dir (as ``--workers N`` processes do)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.cache import NullCache
from reelstream.config import Settings
from reelstream.videos.cache import HotPage, VideoCache
from tests.cache.helpers import QueryCounter, make_ready, run, services_of


@pytest.fixture
def ready(client: TestClient) -> str:
    vid: str = run(client, make_ready, services_of(client), "clip")
    return vid


def unsigned(video: dict[str, Any]) -> dict[str, Any]:
    """A video's JSON without its signed URLs (their expiry moves every second)."""
    return {k: v for k, v in video.items() if not k.endswith("_url") and k != "captions"}


def get_json(c: TestClient, url: str) -> Any:
    r = c.get(url)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_cached_anonymous_read_costs_no_query_and_matches_the_ordinary_path(
    client: TestClient, anon: TestClient, ready: str
) -> None:
    first = get_json(anon, f"/api/v1/videos/{ready}")  # fills the local tier
    counter = QueryCounter(services_of(client).db)
    try:
        hot = get_json(anon, f"/api/v1/videos/{ready}")
        playback = get_json(anon, f"/api/v1/videos/{ready}/playback")
    finally:
        counter.close()
    assert counter.count == 0
    signed_in = get_json(client, f"/api/v1/videos/{ready}")  # the ordinary path: the owner
    assert set(hot) == set(signed_in)
    assert unsigned(hot) == unsigned(first)
    # the same but the processing detail, which only the owner (and admins) get
    assert hot["job"] is None and hot["filename"] == ""
    assert signed_in["job"] is not None and signed_in["filename"]
    detail = {"job", "filename"}
    assert {k: v for k, v in unsigned(hot).items() if k not in detail} == {
        k: v for k, v in unsigned(signed_in).items() if k not in detail
    }
    assert hot["poster_url"].split("/media/")[1].startswith(f"{ready}/")
    assert playback["hls_url"].endswith("/master.m3u8")


@pytest.mark.parametrize("write", ["patch", "delete"])
def test_a_write_is_seen_at_once(
    client: TestClient, anon: TestClient, ready: str, write: str
) -> None:
    get_json(anon, f"/api/v1/videos/{ready}")
    assert services_of(client).video_cache.hot(ready) is not None
    if write == "patch":
        r = client.patch(f"/api/v1/videos/{ready}", json={"title": "renamed"})
        assert r.status_code == 200
        assert get_json(anon, f"/api/v1/videos/{ready}")["title"] == "renamed"
    else:
        assert client.delete(f"/api/v1/videos/{ready}").status_code == 204
        assert anon.get(f"/api/v1/videos/{ready}").status_code == 404
        assert anon.get(f"/api/v1/videos/{ready}/playback").status_code == 404


def test_a_video_turned_private_is_refused_to_anonymous_callers(
    client: TestClient, anon: TestClient, ready: str
) -> None:
    get_json(anon, f"/api/v1/videos/{ready}/playback")
    r = client.patch(f"/api/v1/videos/{ready}", json={"visibility": "private"})
    assert r.status_code == 200
    assert anon.get(f"/api/v1/videos/{ready}/playback").status_code == 401
    assert anon.get(f"/api/v1/videos/{ready}").status_code == 401


def test_the_first_page_is_cached_and_dropped_by_any_write(
    client: TestClient, anon: TestClient, ready: str
) -> None:
    page = get_json(anon, "/api/v1/videos")
    assert [v["id"] for v in page["items"]] == [ready]
    counter = QueryCounter(services_of(client).db)
    try:
        again = get_json(anon, "/api/v1/videos")
    finally:
        counter.close()
    assert counter.count == 0
    assert [unsigned(v) for v in again["items"]] == [unsigned(v) for v in page["items"]]
    other: str = run(client, make_ready, services_of(client), "second")
    assert [v["id"] for v in get_json(anon, "/api/v1/videos")["items"]] == [other, ready]
    client.patch(f"/api/v1/videos/{ready}", json={"title": "renamed"})
    assert get_json(anon, "/api/v1/videos?limit=5")["items"][1]["title"] == "renamed"
    assert get_json(anon, "/api/v1/videos")["items"][1]["title"] == "renamed"
    # a bad credential is still refused on the hot path
    assert anon.get("/api/v1/videos", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.fixture
def second_app(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """Another app on the same data dir (database and generation table), like a second
    ``--workers`` process."""
    with TestClient(create_app(settings)) as c:
        yield c


def test_another_process_sees_the_write_at_once(
    client: TestClient, second_app: TestClient, ready: str
) -> None:
    assert get_json(second_app, f"/api/v1/videos/{ready}")["title"] == "clip"
    assert get_json(second_app, "/api/v1/videos")["items"][0]["title"] == "clip"
    assert services_of(second_app).video_cache.hot(ready) is not None
    assert client.patch(f"/api/v1/videos/{ready}", json={"title": "renamed"}).status_code == 200
    assert get_json(second_app, f"/api/v1/videos/{ready}")["title"] == "renamed"
    assert get_json(second_app, "/api/v1/videos")["items"][0]["title"] == "renamed"


def test_concurrent_misses_of_the_first_page_share_one_query() -> None:
    """When the page expires under load, one reader queries; the others wait for it."""

    async def go() -> None:
        cache = VideoCache(NullCache(), 60)
        loads = 0

        async def load() -> HotPage:
            nonlocal loads
            loads += 1
            await asyncio.sleep(0.05)
            return HotPage([], None)

        pages = await asyncio.gather(*(cache.load_page(20, load) for _ in range(32)))
        assert loads == 1 and all(p is pages[0] for p in pages)
        assert cache.hot_page(20) is pages[0]
        await cache.invalidate(["x"])  # any write voids it: the next reader queries again
        assert cache.hot_page(20) is None
        await cache.load_page(20, load)
        assert loads == 2

    asyncio.run(go())
