"""Each role serves its own routes, and every role serves the ops endpoints."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from reelstream.app import Role, create_app
from reelstream.config import Settings
from reelstream.services import Services
from reelstream.videos import repository as videos

MEDIA = "/media/AAAAAAAAAAAAAAAA/aaaaaaaaaaaa/k1.1.x/master.m3u8"


@pytest.mark.parametrize(
    ("role", "api", "media", "pages"),
    [("all", True, True, True), ("api", True, False, True), ("origin", False, True, False)],
)
def test_roles_mount_their_routers(
    settings: Settings, role: Role, api: bool, media: bool, pages: bool
) -> None:
    with TestClient(create_app(settings, role=role)) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert (client.get("/api/v1/videos").status_code == 200) is api
        assert (client.options("/api/v1/uploads").status_code == 204) is api
        # A mounted origin refuses a bad token (403); without it the path does not exist.
        assert client.get(MEDIA).status_code == (403 if media else 404)
        assert (client.get("/upload").status_code == 200) is pages


async def _enqueue(services: Services) -> None:
    async with services.db.transaction() as s:
        video = await videos.create_video(s, title="t", filename="t.mp4")
        await videos.mark_uploaded(s, video, source_key="videos/none/source", source_bytes=1)
        await services.queue.enqueue(s, video.id)


@pytest.mark.parametrize(("role", "claimed"), [("api", False), ("all", True)])
def test_only_the_all_role_runs_workers(settings: Settings, role: Role, claimed: bool) -> None:
    settings.embedded_workers = True
    with TestClient(create_app(settings, role=role)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        client.portal.call(_enqueue, services)  # type: ignore[union-attr]
        deadline = time.monotonic() + 5
        counts = client.portal.call(services.queue.counts)  # type: ignore[union-attr]
        while claimed and counts == {"queued": 1} and time.monotonic() < deadline:
            time.sleep(0.1)
            counts = client.portal.call(services.queue.counts)  # type: ignore[union-attr]
        if not claimed:
            time.sleep(1.0)  # several poll intervals: a worker would have claimed it
            counts = client.portal.call(services.queue.counts)  # type: ignore[union-attr]
        assert (counts != {"queued": 1}) is claimed, counts
