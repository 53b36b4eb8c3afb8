"""Admission control (``reelstream.http.admission``): a bounded number of requests in flight per
pool; beyond it an immediate 503 + ``Retry-After``; health and metrics always admitted; the
counts never leak (errors, cancelled requests, clients gone)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from starlette.types import Message, Receive, Scope, Send

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.devcluster.process import free_port
from reelstream.http.admission import AdmissionMiddleware
from reelstream.observability.metrics import Metrics
from reelstream.observability.request_id import RequestIdMiddleware


class Held:
    """An app whose requests wait until ``release`` is set (slow requests held open)."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.entered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        if scope["path"] not in ("/healthz", "/readyz", "/metrics"):
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def scope(path: str, method: str = "GET") -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": []}


async def call(app: Callable[..., Awaitable[None]], path: str, method: str = "GET") -> Any:
    """Run one request through ``app``; returns (status, headers, body)."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope(path, method), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


async def wait_for(predicate: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not predicate():
            await anyio.sleep(0.001)


async def test_the_request_over_the_bound_gets_an_immediate_503_with_retry_after() -> None:
    inner = Held()
    metrics = Metrics()
    app = AdmissionMiddleware(inner, limits={"api": 2}, metrics=metrics)
    results: list[int] = []

    async def one(path: str) -> None:
        results.append((await call(app, path))[0])

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "/api/v1/videos")
        tg.start_soon(one, "/watch/x")
        await wait_for(lambda: app.pools["api"].inflight == 2)
        with anyio.fail_after(1):  # never queued: answered while the two are still held
            status, headers, body = await call(app, "/api/v1/videos")
        assert status == 503
        assert headers[b"retry-after"] == b"1"
        assert headers[b"content-type"] == b"application/json"
        error = json.loads(body)["error"]
        assert error["code"] == "overloaded" and error["message"]
        assert inner.entered == 2  # the shed request never reached the app
        for path in ("/healthz", "/readyz", "/metrics"):  # always admitted, never counted
            assert (await call(app, path))[0] == 200
        assert app.pools["api"].inflight == 2
        inner.release.set()
    assert results == [200, 200]
    assert app.pools["api"].inflight == 0
    assert (await call(app, "/api/v1/videos"))[0] == 200  # admitted again once they finished
    text = generate_latest(metrics.registry).decode()
    assert 'reelstream_http_shed_total{pool="api"} 1.0' in text
    assert 'reelstream_http_inflight{pool="api"} 0.0' in text
    assert 'reelstream_http_inflight_limit{pool="api"} 2.0' in text


async def test_uploads_and_media_have_their_own_bounds() -> None:
    inner = Held()
    app = AdmissionMiddleware(inner, limits={"api": 1, "media": 1, "uploads": 1})
    async with anyio.create_task_group() as tg:
        tg.start_soon(call, app, "/api/v1/uploads/u1", "PATCH")
        tg.start_soon(call, app, "/media/v/r/t/seg.m4s")
        await wait_for(lambda: inner.entered == 2)
        # a long upload and a media send in flight: the API still admits one
        tg.start_soon(call, app, "/api/v1/videos")
        await wait_for(lambda: app.pools["api"].inflight == 1)
        assert (await call(app, "/api/v1/uploads/u2", "PATCH"))[0] == 503
        assert (await call(app, "/media/v/r/t/other.m4s"))[0] == 503
        assert (await call(app, "/api/v1/videos/x"))[0] == 503
        inner.release.set()
    assert {p.name: p.inflight for p in app.pools.values()} == {
        "api": 0,
        "media": 0,
        "uploads": 0,
    }
    assert {p.name: p.shed for p in app.pools.values()} == {"api": 1, "media": 1, "uploads": 1}


async def test_a_bound_of_zero_admits_everything() -> None:
    inner = Held()
    app = AdmissionMiddleware(inner, limits={"api": 0})
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(call, app, "/api/v1/videos")
        await wait_for(lambda: inner.entered == 50)
        inner.release.set()
    assert app.pools["api"].shed == 0


async def test_counts_never_leak_on_errors_or_cancelled_requests() -> None:
    inner = Held()
    metrics = Metrics()
    app = AdmissionMiddleware(inner, limits={"api": 2}, metrics=metrics)
    for _ in range(5):  # the app raises
        with pytest.raises(RuntimeError):
            await call(app, "/boom")
    assert app.pools["api"].inflight == 0
    for _ in range(5):  # the request is cancelled while in flight (the client went away)
        with anyio.CancelScope() as cs:
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, app, "/api/v1/videos")
                tg.start_soon(call, app, "/api/v1/videos")
                await wait_for(lambda: app.pools["api"].inflight == 2)
                cs.cancel()
        assert app.pools["api"].inflight == 0
    inner.release.set()
    assert (await call(app, "/api/v1/videos"))[0] == 200
    assert (await call(app, "/api/v1/videos"))[0] == 200
    assert app.pools["api"].shed == 0
    assert 'reelstream_http_inflight{pool="api"} 0.0' in generate_latest(metrics.registry).decode()


class ReadsUntilGone:
    """An app that reads its request body until the client disconnects."""

    def __init__(self) -> None:
        self.reading = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        self.reading.set()
        while (await receive())["type"] != "http.disconnect":
            pass


def test_a_client_that_disconnects_mid_request_frees_its_slot() -> None:
    """Over a real uvicorn (httptools): a client that sends part of a body and hangs up."""
    inner = ReadsUntilGone()
    app = AdmissionMiddleware(inner, limits={"uploads": 1})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, http="httptools", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        for _ in range(3):
            inner.reading.clear()
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(
                    b"PATCH /api/v1/uploads/AAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: t\r\n"
                    b"Content-Length: 100000\r\n\r\n" + b"x" * 1000
                )
                assert inner.reading.wait(5)
                assert app.pools["uploads"].inflight == 1
            deadline = time.monotonic() + 5
            while app.pools["uploads"].inflight and time.monotonic() < deadline:
                time.sleep(0.02)
            assert app.pools["uploads"].inflight == 0
    finally:
        server.should_exit = True
        thread.join(10)


def find_admission(client: TestClient) -> AdmissionMiddleware:
    """The app's admission control: in front of everything, media included (behind only the
    request id, which a shed answer carries too)."""
    front: Any = client.app.front  # type: ignore[attr-defined]
    assert isinstance(front, RequestIdMiddleware)
    assert isinstance(front.app, AdmissionMiddleware)
    return front.app


def test_the_app_sheds_with_the_project_error_shape_and_exports_the_gauges(
    settings: Settings,
) -> None:
    """create_app installs admission control with the settings' bounds (outermost)."""
    settings.max_inflight = 3
    with TestClient(create_app(settings, run_workers=False)) as client:
        admission = find_admission(client)
        assert admission.pools["api"].limit == 3
        admission.pools["api"].inflight = 3  # as if three requests were running
        resp = client.get("/api/v1/videos")
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "1"
        assert resp.json()["error"]["code"] == "overloaded"
        assert len(resp.headers["x-request-id"]) == 32  # a shed answer names its request too
        assert client.get("/healthz").status_code == 200
        admission.pools["media"].inflight = admission.pools["media"].limit  # media too
        assert client.get("/media/a/b/c/x.m4s").status_code == 503
        admission.pools["media"].inflight = 0
        assert client.get("/media/a/b/c/x.m4s").status_code == 404
        text = client.get("/metrics").text
        admission.pools["api"].inflight = 0
        assert client.get("/api/v1/videos").status_code == 200
    assert 'reelstream_http_shed_total{pool="api"} 1.0' in text
    assert 'reelstream_http_inflight_limit{pool="api"} 3.0' in text


def test_httpx_sees_retry_after_on_a_shed_request(settings: Settings) -> None:
    """The 503 is a complete HTTP answer (length, type, Retry-After) a client can act on."""
    settings.max_inflight = 1
    app = create_app(settings, run_workers=False)
    with TestClient(app) as client:
        find_admission(client).pools["api"].inflight = 1
        resp = client.get("/")
        assert resp.status_code == 503
        assert int(resp.headers["content-length"]) == len(resp.content)
        assert resp.headers["cache-control"] == "no-store"
