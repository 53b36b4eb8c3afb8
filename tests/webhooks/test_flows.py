"""Every event type fires from the real flows, and deliveries are visible through the API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from reelstream import webhooks
from reelstream.app import create_app
from reelstream.config import Rung, Settings
from reelstream.db.models import Job, WebhookEvent
from reelstream.processing.jobs import claim_next
from reelstream.services import Services
from reelstream.videos import repository as repo
from reelstream.webhooks.signing import verify
from reelstream.worker import reap_once
from tests.ingest.helpers import TUS, metadata, patch_headers
from tests.support import make_clip, sign_in
from tests.videos.factories import create_video
from tests.webhooks.helpers import pump, user_with_endpoint
from tests.webhooks.receiver import Received, Receiver


def upload(client: TestClient, data: bytes, name: str) -> str:
    r = client.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata(filename=name, title=name),
        },
    )
    assert r.status_code == 201, r.text
    done = client.patch(r.headers["Location"], content=data, headers=patch_headers(0))
    assert done.status_code == 204, done.text
    return str(r.headers["Video-Id"])


def events_for(received: list[Received], video_id: str) -> list[str]:
    out = []
    for r in received:
        body = json.loads(r.body)
        if body["data"]["video"]["id"] == video_id:
            out.append(body["type"])
    return out


@pytest.fixture
def working_client(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """The app with its worker pool (and so the webhook dispatcher) running, a tiny ladder."""
    fast = settings.model_copy(
        update={"ladder": [Rung(height=144, video_kbps=150)], "x264_preset": "ultrafast"}
    )
    with TestClient(create_app(fast, run_workers=True)) as c:
        sign_in(c)
        yield c


def test_every_event_fires_from_the_real_flows(
    working_client: TestClient, receiver: Receiver, tmp_path: Path
) -> None:
    client = working_client
    made = client.post("/api/v1/webhooks", json={"url": receiver.url}).json()
    secret = made["secret"]
    receiver.failures_left = 2  # and the receiver starts out failing

    clip = make_clip(tmp_path / "tiny.mp4", seconds=1, width=256, height=144)
    good = upload(client, clip.read_bytes(), "good.mp4")
    # no order is promised: retries reorder
    three = {"upload.completed", "video.playable", "video.ready"}
    got = receiver.wait_for(lambda rs: set(events_for(rs, good)) == three, timeout=120)
    assert sorted(events_for(got, good)) == sorted(three)  # each once
    (playable,) = [
        b["data"]["video"]
        for b in map(json.loads, (r.body for r in got))
        if b["type"] == "video.playable"
    ]
    assert playable["status"] == "processing" and playable["ready_at"] is None
    (ready,) = [
        b["data"]["video"]
        for b in map(json.loads, (r.body for r in got))
        if b["type"] == "video.ready"
    ]
    assert ready["status"] == "ready" and ready["title"] == "good.mp4" and ready["duration_s"]

    assert client.delete(f"/api/v1/videos/{good}").status_code == 204
    receiver.wait_for(lambda rs: "video.deleted" in events_for(rs, good))

    bad = upload(client, b"this is not a video at all" * 40, "bad.mp4")
    both = {"upload.completed", "video.failed"}
    got = receiver.wait_for(lambda rs: set(events_for(rs, bad)) == both, timeout=60)
    assert sorted(events_for(got, bad)) == sorted(both)
    failed = [json.loads(r.body) for r in got if json.loads(r.body)["type"] == "video.failed"]
    assert failed[0]["data"]["video"]["error"]

    for r in receiver.requests():
        assert verify(secret, r.headers, r.body)
    # the dispatcher records a delivery after the receiver answered: wait for the last one
    deadline = time.monotonic() + 30
    while True:
        items = client.get(f"/api/v1/webhooks/{made['id']}/deliveries").json()["items"]
        if all(i["state"] == "delivered" for i in items) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(i["type"] for i in items) == sorted(
        [
            "upload.completed",
            "video.playable",
            "video.ready",
            "video.deleted",
            "upload.completed",
            "video.failed",
        ]
    )
    assert all(i["state"] == "delivered" and i["delivered_at"] for i in items)
    assert sum(i["attempts"] for i in items) == len(receiver.requests()) == len(items) + 2


def test_deliveries_and_their_attempts_are_visible_through_the_api(
    client: TestClient, receiver: Receiver
) -> None:
    made = client.post("/api/v1/webhooks", json={"url": receiver.url}).json()
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal is not None
    vid = client.portal.call(create_video, services)

    async def fail_it() -> None:
        async with services.db.transaction() as s:
            await repo.mark_failed(s, vid, "the source is broken")
            await webhooks.emit(s, "video.failed", vid)

    client.portal.call(fail_it)
    receiver.failures_left = 2
    client.portal.call(pump, services, lambda: len(receiver.requests()) >= 1)
    (item,) = client.get(f"/api/v1/webhooks/{made['id']}/deliveries").json()["items"]
    assert item["type"] == "video.failed" and item["event_id"].startswith("evt_")
    assert item["state"] == "pending" and item["attempts"] == 1
    assert item["last_status"] == 500 and "500" in item["last_error"]
    assert item["next_attempt_at"] and item["delivered_at"] is None

    client.portal.call(pump, services, lambda: len(receiver.accepted()) == 1)
    (item,) = client.get(f"/api/v1/webhooks/{made['id']}/deliveries").json()["items"]
    assert item["state"] == "delivered" and item["attempts"] == 3
    assert item["last_status"] == 200 and item["last_error"] is None
    assert item["delivered_at"] and item["next_attempt_at"] is None
    assert {r.headers["Webhook-Id"] for r in receiver.requests()} == {item["event_id"]}


async def test_the_reaper_failing_a_dead_job_emits_video_failed(services: Services) -> None:
    services.settings.max_attempts = 1
    owner, _, _ = await user_with_endpoint(services, "ann", "http://127.0.0.1:9/hook")
    async with services.db.transaction() as s:
        video = await repo.create_video(s, title="t", filename="t.mp4", owner_id=owner)
        await repo.mark_uploaded(s, video, source_key="k", source_bytes=1)
        job = await services.queue.enqueue(s, video.id)
        job.max_attempts = 1
        vid = video.id
    lease = await claim_next(services, "w")
    assert lease is not None and lease.video_id == vid
    async with services.db.transaction() as s:
        await s.execute(
            update(Job)
            .where(Job.id == lease.job_id)
            .values(lease_expires_at=lease.expires_at.replace(year=2000))
        )
    assert await reap_once(services) == 1
    async with services.db.read(primary=True) as s:
        (event,) = (await s.execute(select(WebhookEvent))).scalars()
    body = json.loads(event.body)
    assert body["type"] == "video.failed" and body["data"]["video"]["status"] == "failed"
    assert "worker died" in body["data"]["video"]["error"]
