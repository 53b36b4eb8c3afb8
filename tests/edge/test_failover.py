"""Origins die; viewers do not notice: stale serving with every origin stopped, and no failed
request with one of two origins killed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time

import httpx

from reelstream.devcluster.process import free_port
from tests.edge.conftest import MediaSite, OriginsFactory
from tests.fixtures.nginx import EdgeFactory

PLAYLIST_TTL_S = 1


def test_cached_media_is_served_with_every_origin_stopped(
    site: MediaSite, origins_factory: OriginsFactory, edge_factory: EdgeFactory
) -> None:
    origins = origins_factory(2)
    edge = edge_factory([o.base_url for o in origins], site.keys, playlist_ttl=f"{PLAYLIST_TTL_S}s")
    pub, uncached = site.publish(), site.publish()
    with httpx.Client(base_url=edge.base_url, timeout=10) as client:
        token = site.token(pub.video_id)
        for path in pub.files:  # warm the cache: the whole video, as a player fetches it
            r = client.get(pub.url(token, path))
            assert r.status_code == 200
            assert r.headers["x-cache-status"] == "MISS"

        for origin in origins:
            origin.kill()
        time.sleep(PLAYLIST_TTL_S + 1)  # every cached playlist is now past its TTL

        # A new viewer (another valid token) plays the whole video from the edge alone.
        token = site.token(pub.video_id, ttl=7200)
        statuses = {}
        for path, data in pub.files.items():
            r = client.get(pub.url(token, path))
            assert r.status_code == 200, (path, r.text)
            assert r.content == data
            statuses[path] = r.headers["x-cache-status"]
        for path in pub.playlists:
            assert statuses[path] in ("STALE", "UPDATING"), statuses
        for path in pub.segments:
            assert statuses[path] == "HIT", statuses
        print(f"all origins down: {len(statuses)} of {len(pub.files)} files served; {statuses}")

        # Only the cache made that possible: a file never fetched gets a JSON 503, not a hang.
        r = client.get(uncached.url(site.token(uncached.video_id), uncached.segments[0]))
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "origin_unavailable"
        assert r.headers["retry-after"] == "5"
        # And tokens are still checked with no origin at all.
        r = client.get(pub.url(site.token(uncached.video_id), pub.segments[0]))
        assert r.status_code == 403


async def test_no_client_request_fails_with_one_of_two_origins_killed(
    site: MediaSite, origins_factory: OriginsFactory, edge_factory: EdgeFactory
) -> None:
    origins = origins_factory(2)
    dead, alive = origins
    edge = edge_factory([o.base_url for o in origins], site.keys)
    pubs = [site.publish() for _ in range(19)]  # 11 files each: 209 distinct, uncached files
    wanted = [
        (pub.url(site.token(pub.video_id), path), data)
        for pub in pubs
        for path, data in pub.files.items()
    ][:200]
    dead.kill()

    gate = asyncio.Semaphore(20)
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=edge.base_url, limits=limits, timeout=60) as client:

        async def fetch(url: str) -> httpx.Response:
            async with gate:
                return await client.get(url)

        responses = await asyncio.gather(*(fetch(url) for url, _ in wanted))

    failed = [
        (url, r.status_code)
        for (url, data), r in zip(wanted, responses, strict=True)
        if r.status_code != 200 or r.content != data
    ]
    log = edge.access_log()
    tried_dead = [line for line in log if dead.address in line.upstream]
    print(
        f"one origin dead: {len(failed)} failed of {len(wanted)}; "
        f"{len(tried_dead)} requests tried the dead origin first and were retried"
    )
    assert failed == []
    # The hash did send files to the dead origin; each attempt moved on to the live one.
    assert tried_dead
    assert all(line.upstream.endswith(alive.address) for line in log if line.upstream)


def test_an_api_that_dies_mid_request_is_a_json_503_not_an_html_502(
    site: MediaSite, edge_factory: EdgeFactory
) -> None:
    # an api that reads the request and dies before answering (the chaos campaign's SIGKILL or
    # reset of an api under a tus PATCH): nginx may not retry a non-idempotent request elsewhere
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    dying = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # RST, no answer

    threading.Thread(target=serve, daemon=True).start()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: refused
    try:
        for apis in ([dying], [dead]):
            edge = edge_factory([dead], site.keys, apis=apis)
            with httpx.Client(base_url=edge.base_url, timeout=10) as client:
                for method in ("GET", "POST", "PATCH"):
                    r = client.request(method, "/api/v1/uploads/x", content=b"data")
                    assert r.status_code == 503, (apis, method, r.text)
                    assert r.json()["error"]["code"] == "api_unavailable"
                    assert r.headers["retry-after"] == "1"
    finally:
        listener.close()
