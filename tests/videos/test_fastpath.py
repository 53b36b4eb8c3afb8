"""The anonymous hot reads answered before routing (``reelstream.videos.fastpath``): which
requests it answers (and which it leaves to the routes), the same bytes as the routes, the
``reads`` limit counted once, and the request metrics under the route's label."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from reelstream.config import Settings
from reelstream.videos.fastpath import HotReads
from tests.cache.helpers import make_ready, run, services_of


@pytest.fixture
def ready(client: TestClient) -> str:
    vid: str = run(client, make_ready, services_of(client), "clip")
    return vid


class Downstream:
    """The app behind the middleware: records that a request fell through."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(
    client: TestClient, path: str, query: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = ()
) -> tuple[int, int, bytes]:
    """Send one request through ``HotReads`` alone: (status, fell-through count, body)."""
    down = Downstream()
    sent: list[Message] = []
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("testclient", 50000),  # as TestClient sends: the same reads budget
        "root_path": "",
        "app": client.app,
        "state": {},
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def go() -> None:
        await HotReads(down)(scope, receive, send)

    assert client.portal is not None
    client.portal.call(go)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], down.calls, body


def test_it_answers_cached_anonymous_reads_and_leaves_everything_else(
    client: TestClient, anon: TestClient, ready: str
) -> None:
    video, playback = f"/api/v1/videos/{ready}", f"/api/v1/videos/{ready}/playback"
    assert call(client, video)[1] == 1  # not cached yet: the route loads it
    assert anon.get(video).status_code == 200  # fills the local tier
    assert anon.get("/api/v1/videos").status_code == 200  # and the first page
    assert call(client, video)[:2] == (200, 0)
    assert call(client, playback)[:2] == (200, 0)
    assert call(client, "/api/v1/videos")[:2] == (200, 0)
    assert call(client, "/api/v1/videos", b"limit=20")[:2] == (200, 0)
    left_alone = [
        (video, b"x=1", ()),  # any query on a video
        ("/api/v1/videos", b"limit=5", ()),  # a page size not cached yet
        ("/api/v1/videos", b"status=ready", ()),  # a filter
        ("/api/v1/videos", b"limit=0", ()),  # invalid: the route's 422
        (video, b"", ((b"authorization", b"Bearer rs_x"),)),  # a credential, good or bad
        (video, b"", ((b"cookie", b"theme=dark; rs_session=abc"),)),  # a session
        ("/api/v1/videos/nope", b"", ()),  # not cached: the route's 404
        (f"/api/v1/videos/{ready}/timeline", b"", ()),  # another route
    ]
    for path, query, headers in left_alone:
        assert call(client, path, query, headers)[1] == 1, (path, query, headers)
    # an unrelated cookie does not make the caller signed in
    assert call(client, video, b"", ((b"cookie", b"theme=dark"),))[:2] == (200, 0)


def test_the_same_bytes_as_the_routes(client: TestClient, anon: TestClient, ready: str) -> None:
    anon.get(f"/api/v1/videos/{ready}")
    anon.get("/api/v1/videos")
    for path in (f"/api/v1/videos/{ready}", f"/api/v1/videos/{ready}/playback", "/api/v1/videos"):
        fast = anon.get(path)
        routed = anon.get(path, params={"unused": "1"})  # a query: answered by the route
        assert fast.status_code == routed.status_code == 200
        assert fast.headers["content-type"] == routed.headers["content-type"]
        # the signed URLs carry the expiry second: equal unless the clock ticked between
        assert fast.json().keys() == routed.json().keys()
        if fast.json().get("expires_at") == routed.json().get("expires_at"):
            assert fast.content == routed.content


def test_a_private_video_is_never_answered_here(
    client: TestClient, anon: TestClient, ready: str
) -> None:
    assert client.patch(f"/api/v1/videos/{ready}", json={"visibility": "private"}).status_code
    client.get(f"/api/v1/videos/{ready}")  # the owner's read fills the local tier
    assert services_of(client).video_cache.hot(ready) is not None
    assert call(client, f"/api/v1/videos/{ready}")[1] == 1
    assert anon.get(f"/api/v1/videos/{ready}").status_code == 401


class TestTheReadsLimit:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"rate_limit_reads": "3/minute"})

    def test_it_is_counted_once_per_request(self, anon: TestClient, ready: str) -> None:
        path = f"/api/v1/videos/{ready}"
        statuses = [anon.get(path).status_code for _ in range(4)]  # a miss (route), then hot
        assert statuses == [200, 200, 200, 429]
        refused = anon.get(path)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) > 0
        assert "ratelimit-limit" in {k.lower() for k in refused.headers}

    def test_a_refused_client_is_refused_before_routing(
        self, client: TestClient, anon: TestClient, ready: str
    ) -> None:
        """Over its limit, a caller's reads of the hot paths are refused here, cached or not,
        signed in or not (the routes' limit runs before them), as the routes would."""
        for _ in range(4):
            anon.get(f"/api/v1/videos/{ready}")
        token = (b"authorization", b"Bearer rs_anything")
        for path, query, headers in [
            ("/api/v1/videos/nope", b"", ()),  # never cached
            ("/api/v1/videos", b"status=ready", ()),
            (f"/api/v1/videos/{ready}/playback", b"", (token,)),
        ]:
            status, fell_through, body = call(client, path, query, headers)
            assert (status, fell_through) == (429, 0)
            assert b'"rate_limited"' in body
        assert call(client, f"/api/v1/videos/{ready}/timeline")[1] == 1  # not a hot path


def test_fast_answers_are_counted_under_the_route_label(anon: TestClient, ready: str) -> None:
    anon.get(f"/api/v1/videos/{ready}")
    anon.get(f"/api/v1/videos/{ready}")
    metrics = anon.get("/metrics").text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("reelstream_http_requests_total{")
        and 'route="/api/v1/videos/{video_id}"' in line
        and 'status="200"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == 2
