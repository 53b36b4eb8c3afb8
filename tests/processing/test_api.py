"""The timeline and retry endpoints over HTTP: what each stage says, who may retry, and the
retries themselves (attempts run in the app's event loop with real ffmpeg, behind a wrapper
that fails the commands we choose)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reelstream.processing.jobs import claim_next, run_job
from reelstream.queue.retry import RetryPolicy
from reelstream.services import Services
from tests.processing.conftest import queue_video as queue_source
from tests.support import FAULTY_REASON, FaultyFFmpeg, bearer, create_account, playlist_uris
from tests.videos.factories import create_video, queue_video


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def run_next(client: TestClient) -> str:
    services = services_of(client)

    async def run() -> str:
        lease = await claim_next(services, "test:1:0")
        assert lease is not None, "no job was due"
        return await run_job(services, lease)

    assert client.portal is not None
    return str(client.portal.call(run))


def stages(timeline: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(s["name"], s["rendition"]): s for s in timeline["stages"]}


@pytest.fixture
def faulty(client: TestClient, tmp_path: Path) -> FaultyFFmpeg:
    wrapper = FaultyFFmpeg(tmp_path / "faulty")
    services_of(client).settings.ffmpeg_path = str(wrapper.path)
    return wrapper


def test_the_timeline_of_a_queued_video(client: TestClient, anon: TestClient) -> None:
    services = services_of(client)
    assert client.portal is not None
    vid = client.portal.call(create_video, services, "queued one")
    client.portal.call(queue_video, services, vid)
    r = client.get(f"/api/v1/videos/{vid}/timeline")
    assert r.status_code == 200, r.text
    timeline = r.json()
    assert timeline["video_id"] == vid and timeline["status"] == "queued"
    assert [(s["name"], s["state"]) for s in timeline["stages"]] == [
        ("upload", "done"),
        ("probe", "pending"),
        ("encode", "pending"),
        ("package", "pending"),
        ("publish", "pending"),
    ]
    assert timeline["job"]["kind"] == "transcode" and timeline["job"]["state"] == "queued"
    assert timeline["eta_s"] is None and timeline["progress"] == 0.0
    assert timeline["retry"] == {"video": False, "renditions": []}
    # the timeline is the owner's and admins' (``inspect``); an unknown id is a 404
    assert anon.get(f"/api/v1/videos/{vid}/timeline").status_code == 401
    missing = client.get("/api/v1/videos/AAAAAAAAAAAAAAAA/timeline")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "video_not_found"
    # nothing to retry: a 409 that says why
    r = client.post(f"/api/v1/videos/{vid}/retry")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "nothing_to_retry"
    assert "only a failed video" in r.json()["error"]["message"]


def test_a_failed_rendition_is_shown_and_retried_by_its_owner(
    client: TestClient, anon: TestClient, clip: Path, faulty: FaultyFFmpeg
) -> None:
    services = services_of(client)
    assert client.portal is not None
    faulty.fail_on("name:v360")
    vid = client.portal.call(queue_source, services, clip)
    assert run_next(client) == "published"

    timeline = client.get(f"/api/v1/videos/{vid}/timeline").json()
    assert timeline["status"] == "ready"
    failed = stages(timeline)[("encode", "v360")]
    assert failed["state"] == "failed" and FAULTY_REASON in failed["error"]
    assert stages(timeline)[("encode", "v240")]["state"] == "done"
    assert timeline["retry"] == {"video": False, "renditions": ["v360"]}
    video = client.get(f"/api/v1/videos/{vid}").json()
    assert [r["height"] for r in video["renditions"]] == [240] and video["playable"]

    # others see neither the timeline nor why it failed, and may not retry it
    other = bearer(create_account(client, "someone-else"))
    seen = client.get(f"/api/v1/videos/{vid}/timeline", headers=other)
    assert seen.status_code == 403 and seen.json()["error"]["code"] == "forbidden"
    assert (
        client.post(f"/api/v1/videos/{vid}/renditions/v360/retry", headers=other).status_code == 403
    )
    assert anon.post(f"/api/v1/videos/{vid}/renditions/v360/retry").status_code == 401
    # a rendition the video never had, and one that did not fail
    r = client.post(f"/api/v1/videos/{vid}/renditions/v1080/retry")
    assert r.status_code == 404 and r.json()["error"]["code"] == "rendition_not_found"
    r = client.post(f"/api/v1/videos/{vid}/renditions/v240/retry")
    assert r.status_code == 409 and "has not failed" in r.json()["error"]["message"]

    faulty.heal()
    r = client.post(f"/api/v1/videos/{vid}/renditions/v360/retry")
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["job"]["kind"] == "rendition" and queued["job"]["renditions"] == ["v360"]
    assert stages(queued)[("encode", "v360")]["state"] == "pending"
    assert queued["retry"]["renditions"] == []
    again = client.post(f"/api/v1/videos/{vid}/renditions/v360/retry")
    assert again.status_code == 409 and "wait for it" in again.json()["error"]["message"]
    assert client.get(f"/api/v1/videos/{vid}").json()["status"] == "ready"  # still playing

    assert run_next(client) == "published"
    timeline = client.get(f"/api/v1/videos/{vid}/timeline").json()
    assert stages(timeline)[("encode", "v360")]["state"] == "done"
    assert timeline["retry"] == {"video": False, "renditions": []}
    video = client.get(f"/api/v1/videos/{vid}").json()
    assert [r["height"] for r in video["renditions"]] == [240, 360]
    master = client.get(client.get(f"/api/v1/videos/{vid}/playback").json()["hls_url"])
    assert master.status_code == 200
    assert [u for u in playlist_uris(master.text) if u.startswith("v")] == [
        "v240/index.m3u8",
        "v360/index.m3u8",
    ]


def test_a_failed_video_is_retried_without_a_new_upload(
    client: TestClient, anon: TestClient, clip: Path, faulty: FaultyFFmpeg
) -> None:
    services = services_of(client)
    assert client.portal is not None
    services.queue.policy = RetryPolicy(max_attempts=1)
    faulty.fail_on("-var_stream_map")
    vid = client.portal.call(queue_source, services, clip)
    assert run_next(client) == "failed"
    video = client.get(f"/api/v1/videos/{vid}").json()
    assert video["status"] == "failed" and FAULTY_REASON in video["error"]
    timeline = client.get(f"/api/v1/videos/{vid}/timeline").json()
    assert timeline["retry"] == {"video": True, "renditions": []}
    assert timeline["error"] == video["error"]
    assert anon.get(f"/api/v1/videos/{vid}/timeline").status_code == 401
    neutral = anon.get(f"/api/v1/videos/{vid}").json()  # the failure, not why
    assert neutral["error"] == "This video is not available." and neutral["job"] is None
    assert anon.post(f"/api/v1/videos/{vid}/retry").status_code == 401

    faulty.heal()
    r = client.post(f"/api/v1/videos/{vid}/retry")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued" and r.json()["error"] is None
    assert r.json()["job"]["attempts"] == 0 and r.json()["job"]["state"] == "queued"
    assert client.post(f"/api/v1/videos/{vid}/retry").status_code == 409
    video = client.get(f"/api/v1/videos/{vid}").json()
    assert video["status"] == "queued" and video["error"] is None

    assert run_next(client) == "published"
    video = client.get(f"/api/v1/videos/{vid}").json()
    assert video["status"] == "ready" and [r["height"] for r in video["renditions"]] == [240, 360]
    timeline = client.get(f"/api/v1/videos/{vid}/timeline").json()
    assert {s["state"] for s in timeline["stages"]} == {"done"}


def test_a_file_that_can_never_work_is_not_offered_a_retry(
    client: TestClient, tmp_path: Path
) -> None:
    """A permanent failure (the file is no video) says that retrying will not help, offers no
    retry, and a retry asked for anyway is refused: it would only fail again."""
    services = services_of(client)
    assert client.portal is not None
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video\n" * 64)
    vid = client.portal.call(queue_source, services, junk)
    assert run_next(client) == "failed"
    timeline = client.get(f"/api/v1/videos/{vid}/timeline").json()
    assert timeline["status"] == "failed" and timeline["error"]
    assert timeline["retryable"] is False
    assert timeline["retry"] == {"video": False, "renditions": []}
    r = client.post(f"/api/v1/videos/{vid}/retry")
    assert r.status_code == 409, r.text
    assert "Retrying will not help: upload a different file." in r.text
    assert client.get(f"/api/v1/videos/{vid}").json()["status"] == "failed"  # nothing moved
