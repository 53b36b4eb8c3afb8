"""Over-long requests, sent as raw bytes to a real server (the HTTP parser matters here):
a 100 KB query string and path (refused by the HTTP parser with a 400), 8 KB ones (answered
by the app), 100 KB headers that the app reads (Authorization,
Upload-Metadata, Tus-Resumable, Range, If-None-Match, the session cookie) and thousands of
headers. Each answers its exact status, never a 5xx, and a video published before still
plays afterwards."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from tests.hostile.conftest import hostile_settings
from tests.support import Server, bearer, create_account, run_server
from tests.videos.factories import create_video, publish_fake

pytestmark = pytest.mark.e2e

BIG = 100_000


@dataclass
class Target:
    server: Server
    token: str
    video_id: str

    def raw(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request`` as it is; the status and the head of the answer."""
        host, port = self.server.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1])
        return status, data[:2000]

    def playable(self) -> None:
        r = httpx.get(
            f"{self.server.base_url}/api/v1/videos/{self.video_id}/playback",
            headers=bearer(self.token),
            timeout=10,
        )
        assert r.status_code == 200, r.text
        master = httpx.get(r.json()["hls_url"], timeout=10)
        assert master.status_code == 200 and master.text.startswith("#EXTM3U")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data_dir = tmp_path_factory.mktemp("long") / "data"
    with TestClient(create_app(hostile_settings(data_dir))) as client:
        token = create_account(client, "owner")
        services = client.app.state.services  # type: ignore[attr-defined]
        assert client.portal is not None
        vid = client.portal.call(lambda: create_video(services, "bystander"))
        client.portal.call(lambda: publish_fake(services, vid))
    with run_server(Path(data_dir)) as server:
        yield Target(server, token, vid)


def request(method: str, target: str, *headers: bytes, body: bytes = b"") -> bytes:
    head = [f"{method} {target} HTTP/1.1".encode(), b"Host: 127.0.0.1", *headers]
    head += [b"Connection: close", f"Content-Length: {len(body)}".encode()]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


A = b"a" * BIG

# (id, raw request, status)
CASES: list[tuple[str, bytes, int]] = [
    # a 100 KB request target is refused by the HTTP parser (httptools) before the app runs
    ("query-string", request("GET", "/api/v1/videos?q=" + "a" * BIG), 400),
    ("path", request("GET", "/api/v1/videos/" + "a" * BIG), 400),
    ("media-path", request("GET", "/media/" + "a/" * (BIG // 2) + "x.m4s"), 400),
    # ... and a long one that still fits is answered by the app
    ("query-string-8k", request("GET", "/api/v1/videos?q=" + "a" * 8000), 422),
    ("path-8k", request("GET", "/api/v1/videos/" + "a" * 8000), 404),
    ("media-path-8k", request("GET", "/media/" + "a/" * 4000 + "x.m4s"), 404),
    ("authorization", request("GET", "/api/v1/videos", b"Authorization: Bearer " + A), 401),
    (
        "upload-metadata",
        request(
            "POST",
            "/api/v1/uploads",
            b"Authorization: Bearer TOKEN",
            b"Tus-Resumable: 1.0.0",
            b"Upload-Length: 10",
            b"Upload-Metadata: filename " + b"QUFB" * (BIG // 4),
        ),
        400,
    ),
    (
        "tus-resumable",
        request("OPTIONS", "/api/v1/uploads", b"Tus-Resumable: " + A),
        204,  # discovery needs no version
    ),
    (
        "tus-resumable-on-creation",
        request(
            "POST",
            "/api/v1/uploads",
            b"Authorization: Bearer TOKEN",
            b"Tus-Resumable: " + A,
            b"Upload-Length: 10",
        ),
        412,
    ),
    ("session-cookie", request("GET", "/api/v1/videos", b"Cookie: rs_session=" + A), 200),
    (
        "many-cookies",
        request("GET", "/", b"Cookie: " + b"; ".join(b"c%d=v" % i for i in range(5000))),
        200,
    ),
    ("many-headers", request("GET", "/healthz", *(b"X-H%d: v" % i for i in range(5000))), 200),
    (
        "title-in-body",
        request(
            "PATCH",
            "/api/v1/videos/VIDEO",
            b"Authorization: Bearer TOKEN",
            b"Content-Type: application/json",
            body=b'{"title": "' + A + b'"}',
        ),
        422,
    ),
]


@pytest.mark.parametrize(("raw", "status"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_long_request(target: Target, raw: bytes, status: int) -> None:
    raw = raw.replace(b"TOKEN", target.token.encode()).replace(b"VIDEO", target.video_id.encode())
    got, head = target.raw(raw)
    assert got == status, head
    target.playable()
    assert "Traceback" not in target.server.log()
