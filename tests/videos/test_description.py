"""The video description (issue 13, added by an expand/contract migration): written at tus
creation (``Upload-Metadata: description``) and by ``PATCH``, read in the video JSON."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.ingest.helpers import TUS, metadata
from tests.videos.factories import create_video
from tests.videos.test_videos import assert_error, run, services_of


def test_description_defaults_to_empty_and_is_patched(client: TestClient) -> None:
    vid = run(client, create_video, services_of(client), "clip")
    assert client.get(f"/api/v1/videos/{vid}").json()["description"] == ""
    text = "Line one\n\tline two, with a tab"
    r = client.patch(f"/api/v1/videos/{vid}", json={"description": f"  {text}  "})
    assert r.status_code == 200, r.text
    assert r.json()["description"] == text
    assert r.json()["title"] == "clip"
    assert client.get(f"/api/v1/videos/{vid}").json()["description"] == text
    r = client.patch(f"/api/v1/videos/{vid}", json={"title": "renamed"})
    assert r.json()["description"] == text, "absent: unchanged"
    r = client.patch(f"/api/v1/videos/{vid}", json={"description": ""})
    assert r.json()["description"] == ""


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"description": "x" * 5001}, "invalid_request"),
        ({"description": "bell \x07"}, "invalid_description"),
        ({"description": "flip \u202e"}, "invalid_description"),
    ],
)
def test_bad_description_is_422(client: TestClient, body: Any, code: str) -> None:
    vid = run(client, create_video, services_of(client), "keep")
    assert_error(client.patch(f"/api/v1/videos/{vid}", json=body), 422, code)
    assert client.get(f"/api/v1/videos/{vid}").json()["description"] == ""


def test_description_at_tus_creation(client: TestClient) -> None:
    meta = metadata(filename="a.mp4", description="About\nthis clip")
    r = client.post(
        "/api/v1/uploads", headers={**TUS, "Upload-Length": "10", "Upload-Metadata": meta}
    )
    assert r.status_code == 201, r.text
    video = client.get(f"/api/v1/videos/{r.headers['Video-Id']}").json()
    assert video["description"] == "About\nthis clip"

    bad = metadata(filename="a.mp4", description="nul \x00")
    r = client.post(
        "/api/v1/uploads", headers={**TUS, "Upload-Length": "10", "Upload-Metadata": bad}
    )
    assert_error(r, 422, "invalid_description")
