"""A real app on a real Redis: cached reads, invalidation on write, and Redis down changes
nothing but speed (requests still succeed, from the database), then caching resumes by
itself once Redis is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.cache.redis import RedisCache
from reelstream.config import Settings
from reelstream.queue.notify.redis import RedisNotifier
from tests.cache.helpers import QueryCounter, make_ready, run, services_of
from tests.fixtures.redis import RedisServer
from tests.ingest.helpers import TUS, metadata
from tests.support import bearer, create_account

SETTLE_S = 0.2
BREAKER_S = 0.5
FAST_S = 1.0  # with Redis down, every request still answers within this


@pytest.fixture
def app(tmp_path: Path, own_redis: RedisServer) -> Iterator[TestClient]:
    settings = Settings(
        env="development",
        data_dir=tmp_path / "data",
        embedded_workers=False,
        redis_url=own_redis.url,
        _env_file=None,
    )
    with TestClient(create_app(settings)) as client:
        # Reads stay anonymous (a cache hit must cost no query; a token would be looked up);
        # the writes send the token of the user "owner", who owns the test's videos.
        client.app.state.write_headers = bearer(create_account(client, "owner"))  # type: ignore[attr-defined]
        services = services_of(client)
        assert isinstance(services.cache, RedisCache)
        assert isinstance(services.notifier, RedisNotifier)
        services.video_cache.settle_s = SETTLE_S
        services.cache.breaker.period_s = BREAKER_S
        yield client


def timed(send: Any, *args: Any, **kwargs: Any) -> httpx2.Response:
    start = time.monotonic()
    response: httpx2.Response = send(*args, **kwargs)
    took = time.monotonic() - start
    assert took < FAST_S, f"{args[0]} took {took:.2f} s"
    return response


def get_counting(client: TestClient, counter: QueryCounter, url: str) -> tuple[Any, int]:
    """GET ``url`` (must be 200); returns the JSON and how many SQL statements it cost."""
    before = counter.count
    r = timed(client.get, url)
    assert r.status_code == 200, r.text
    return r.json(), counter.count - before


def without_signatures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "poster_url"}


def test_redis_accelerates_and_its_loss_only_slows_down(
    app: TestClient, own_redis: RedisServer
) -> None:
    services = services_of(app)
    write: dict[str, str] = app.app.state.write_headers  # type: ignore[attr-defined]
    counter = QueryCounter(services.db)
    try:
        vid = run(app, make_ready, services, "first title")
        time.sleep(SETTLE_S + 0.1)
        video_url, playback_url = f"/api/v1/videos/{vid}", f"/api/v1/videos/{vid}/playback"

        # (a) the first read fills the cache, the next ones cost no database query at all
        first, queries = get_counting(app, counter, video_url)
        assert queries > 0 and first["status"] == "ready"
        second, queries = get_counting(app, counter, video_url)
        assert queries == 0, "a cache hit must not touch the database"
        assert without_signatures(second) == without_signatures(first)
        assert second["poster_url"] and "/media/" in second["poster_url"]  # signed per request
        playback, queries = get_counting(app, counter, playback_url)
        assert queries == 0 and playback["hls_url"].endswith("/master.m3u8")

        # (b) a write invalidates: the very next read shows it, then it is cached again
        r = timed(app.patch, video_url, json={"title": "second title"}, headers=write)
        assert r.status_code == 200 and r.json()["title"] == "second title"
        body, _ = get_counting(app, counter, video_url)
        assert body["title"] == "second title"
        time.sleep(SETTLE_S + 0.1)
        get_counting(app, counter, video_url)
        body, queries = get_counting(app, counter, video_url)
        assert queries == 0 and body["title"] == "second title"

        # (c) Redis dies: everything still answers, quickly, from the database
        own_redis.stop()
        local = services.video_cache.local  # the in-process tier: emptied to reach Redis
        local.clear()
        body, queries = get_counting(app, counter, video_url)
        assert body["title"] == "second title" and queries > 0
        playback, _ = get_counting(app, counter, playback_url)
        assert playback["hls_url"].endswith("/master.m3u8")
        page, _ = get_counting(app, counter, "/api/v1/videos")
        assert vid in [v["id"] for v in page["items"]]
        r = timed(
            app.patch, video_url, json={"title": "written while Redis was down"}, headers=write
        )
        assert r.status_code == 200, r.text
        body, _ = get_counting(app, counter, video_url)
        assert body["title"] == "written while Redis was down"
        r = timed(
            app.post,
            "/api/v1/uploads",
            headers={
                **TUS,
                **write,
                "Upload-Length": "1000",
                "Upload-Metadata": metadata(filename="a.mp4"),
            },
        )
        assert r.status_code == 201, r.text
        for _ in range(20):  # and it stays fast: the breaker skips the dead Redis
            get_counting(app, counter, video_url)

        # (d) Redis is back: caching resumes by itself, no restart
        own_redis.start()
        deadline = time.monotonic() + 15
        while True:
            local.clear()
            body, queries = get_counting(app, counter, video_url)
            assert body["title"] == "written while Redis was down"
            if queries == 0:
                break
            assert time.monotonic() < deadline, "the cache never resumed after Redis came back"
            time.sleep(0.1)
    finally:
        counter.close()

    metrics = app.get("/metrics").text
    assert 'reelstream_cache_lookups_total{outcome="hit"}' in metrics
    assert "reelstream_cache_errors_total{" in metrics
