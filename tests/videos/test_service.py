"""``VideoService`` wiring: deleting a video discards its staged upload data through the
``discard_staging`` dependency, only once the caller may delete it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from reelstream.services import Services
from reelstream.videos.deps import get_video_service
from reelstream.videos.service import VideoService
from tests.support import bearer, create_account
from tests.videos.factories import create_video
from tests.videos.test_videos import assert_error, run, services_of


@pytest.fixture
def discarded(client: TestClient) -> Iterator[list[str]]:
    """The video ids the service asked to discard the staged uploads of."""
    calls: list[str] = []

    async def discard(video_id: str) -> None:
        calls.append(video_id)

    def service() -> VideoService:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        return VideoService(services, discard_staging=discard)

    app = client.app
    app.dependency_overrides[get_video_service] = service  # type: ignore[attr-defined]
    yield calls
    app.dependency_overrides.clear()  # type: ignore[attr-defined]


def test_delete_discards_the_staged_uploads_of_the_video(
    client: TestClient, discarded: list[str]
) -> None:
    vid = run(client, create_video, services_of(client), "doomed")
    assert client.delete(f"/api/v1/videos/{vid}").status_code == 204
    assert discarded == [vid]


def test_a_refused_delete_discards_nothing(client: TestClient, discarded: list[str]) -> None:
    vid = run(client, create_video, services_of(client), "kept")
    stranger = create_account(client, "stranger")
    assert_error(client.delete(f"/api/v1/videos/{vid}", headers=bearer(stranger)), 403)
    assert_error(client.delete("/api/v1/videos/0000000000000000"), 404)
    assert discarded == []
    assert client.get(f"/api/v1/videos/{vid}").status_code == 200
