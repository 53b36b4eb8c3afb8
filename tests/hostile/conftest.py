"""The world every hostile table runs in: one in-process app for the whole package, its
callers (owner with a ``write`` token, another user, a ``read``-only token, a revoked token,
an admin) and two bystanders stored before any attack: a published video (its master
playlist and a segment must still be served after every case) and an upload in progress
(its offset must stay where it was after every case, and it must resume with its bytes at
the end)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.services import Services
from tests.ingest.helpers import OCTETS, TUS, metadata
from tests.support import bearer, create_account
from tests.videos.factories import create_video, publish_fake

SEGMENT = bytes((i * 13 + 7) % 256 for i in range(40_000))
PARTIAL = os.urandom(64 * 1024)
"""The bystander upload's bytes: the first half is sent before the attacks, the rest after."""


@dataclass
class World:
    client: TestClient
    services: Services
    tokens: dict[str, str]
    video_id: str = ""
    rev: str = ""
    upload_url: str = ""
    sent: int = 0
    seen: list[tuple[str, str, int]] = field(default_factory=list)

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        assert self.client.portal is not None
        return self.client.portal.call(lambda: fn(*args, **kwargs))

    def headers(self, who: str | None) -> dict[str, str]:
        return bearer(self.tokens[who]) if who else {}

    def request(
        self, method: str, url: str, who: str | None = "owner", **kwargs: Any
    ) -> httpx2.Response:
        """One request as ``who`` (``None``: anonymous); every status is recorded, and no
        request of the corpus may ever get a 5xx."""
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        r = self.client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
        self.seen.append((method, url[:120], r.status_code))
        assert r.status_code < 500, f"{method} {url[:200]} -> {r.status_code}: {r.text[:500]}"
        return r

    def check_intact(self) -> None:
        """The bystanders are as they were stored."""
        r = self.request("GET", f"/api/v1/videos/{self.video_id}/playback")
        assert r.status_code == 200, r.text
        master = self.client.get(r.json()["hls_url"])
        assert master.status_code == 200 and master.text.startswith("#EXTM3U"), master.text
        seg_url = r.json()["hls_url"].replace("master.m3u8", "v360/seg_00001.m4s")
        seg = self.client.get(seg_url)
        assert seg.status_code == 200 and seg.content == SEGMENT
        head = self.request("HEAD", self.upload_url, headers=TUS)
        assert head.status_code == 200
        assert int(head.headers["upload-offset"]) == self.sent


def hostile_settings(data_dir: Any) -> Settings:
    return Settings(
        env="development",
        data_dir=data_dir,
        embedded_workers=False,
        dev_admin=False,
        lease_s=30,
        heartbeat_s=1,
        max_attempts=1,
        webhook_allow_private=False,  # as in production
        _env_file=None,
    )


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = hostile_settings(tmp_path_factory.mktemp("hostile") / "data")
    with TestClient(create_app(settings)) as client:
        tokens = {
            "owner": create_account(client, "owner"),
            "other": create_account(client, "mallory"),
            "reader": create_account(client, "reader", scopes=("read",)),
            "admin": create_account(client, "boss", admin=True, scopes=("admin",)),
        }
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        w = World(client, services, tokens)
        w.video_id = w.run(create_video, services, "bystander")
        w.rev = w.run(publish_fake, services, w.video_id, {"v360/seg_00001.m4s": SEGMENT})
        r = w.request(
            "POST",
            "/api/v1/uploads",
            headers={
                **TUS,
                "Upload-Length": str(len(PARTIAL)),
                "Upload-Metadata": metadata(filename="resume.mp4", title="in progress"),
            },
        )
        assert r.status_code == 201, r.text
        w.upload_url = r.headers["location"]
        half = len(PARTIAL) // 2
        patch = {**TUS, "Upload-Offset": "0", "Content-Type": OCTETS}
        r = w.request("PATCH", w.upload_url, headers=patch, content=PARTIAL[:half])
        assert r.status_code == 204, r.text
        w.sent = half
        w.check_intact()
        yield w
        # The upload in progress resumes where it stopped and keeps every byte.
        w.check_intact()
        rest = {**TUS, "Upload-Offset": str(half), "Content-Type": OCTETS}
        r = w.request("PATCH", w.upload_url, headers=rest, content=PARTIAL[half:])
        assert r.status_code == 204, r.text
        head = w.request("HEAD", w.upload_url, headers=TUS)
        video_id = head.headers.get("video-id")
        assert video_id
        source = w.run(services.store.get_bytes, f"videos/{video_id}/source")
        assert hashlib.sha256(source).digest() == hashlib.sha256(PARTIAL).digest()


@pytest.fixture
def intact(world: World) -> Iterator[World]:
    """``world``, with the bystanders checked after the case."""
    yield world
    world.check_intact()


def error_code(r: httpx2.Response) -> str:
    """The ``code`` of a JSON error body (every API refusal has one, with a message)."""
    body = r.json()["error"]
    assert body["message"], r.text
    return str(body["code"])


def assert_no_5xx(world: World) -> None:
    bad = [s for s in world.seen if s[2] >= 500]
    assert not bad, bad


ID_RE = re.compile(r"^[A-Za-z0-9]{16}$")
