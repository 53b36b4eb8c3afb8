"""``X-Request-Id`` in the app: taken when well formed, else made; on every response (the
``/media`` fast path included); and one id followed from an upload's request through the api's
log line into the job's payload and the worker's log lines for that job (in-process: the app,
its database and a real ``WorkerPool``)."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from reelstream.db.models import Job
from reelstream.devcluster.roles import WORKER_STARTED
from reelstream.observability.logging import JsonLineFormatter
from reelstream.services import Services
from reelstream.worker import WorkerPool
from tests.ingest.helpers import TUS, metadata, patch_headers

HEX32 = re.compile(r"[0-9a-f]{32}")


def _services(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


@pytest.mark.timeout(30)
def test_a_well_formed_id_is_kept_and_any_other_replaced(client: TestClient) -> None:
    kept = client.get("/healthz", headers={"X-Request-Id": "edge_Req-0001"})
    assert kept.headers.get_list("x-request-id") == ["edge_Req-0001"]
    made = []
    for bad in (None, "short", "has space in it", "x" * 65, "semi;colon-123"):
        headers = {} if bad is None else {"X-Request-Id": bad}
        r = client.get("/healthz", headers=headers)
        (rid,) = r.headers.get_list("x-request-id")
        assert HEX32.fullmatch(rid), (bad, rid)
        made.append(rid)
    assert len(set(made)) == len(made)
    # the /media fast path (before FastAPI) and API errors carry it too
    media = client.get(
        "/media/" + "A" * 16 + "/abcdefghijkl/tok/x.m4s", headers={"X-Request-Id": "media-req-1"}
    )
    assert media.status_code in (403, 404)
    assert media.headers.get_list("x-request-id") == ["media-req-1"]
    missing = client.get("/api/v1/videos/" + "B" * 16, headers={"X-Request-Id": "api-req-01"})
    assert missing.status_code == 404
    assert missing.headers.get_list("x-request-id") == ["api-req-01"]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record of the test as a JSON line (the formatter of ``log_format=json``)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _job_of(client: TestClient, video_id: str) -> Job:
    async def q() -> Job:
        async with _services(client).db.read() as s:
            return (await s.execute(select(Job).where(Job.video_id == video_id))).scalar_one()

    assert client.portal is not None
    return client.portal.call(q)


@pytest.mark.timeout(60)
def test_one_request_id_from_the_upload_into_the_workers_log_lines(
    client: TestClient, json_log: io.StringIO
) -> None:
    data = b"not a video at all" * 64  # the transcode fails fast, at the probe
    r = client.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata(filename="clip.mp4"),
            "X-Request-Id": "create-req-1",
        },
    )
    assert r.status_code == 201, r.text
    video_id = r.headers["Video-Id"]
    rid = "upload-done-0001"  # the request that completes the upload queues the transcode
    r = client.patch(
        r.headers["Location"], content=data, headers={**patch_headers(0), "X-Request-Id": rid}
    )
    assert r.status_code == 204, r.text
    assert r.headers["x-request-id"] == rid
    job = _job_of(client, video_id)
    assert job.payload == {"request_id": rid}

    services = _services(client)
    pool = WorkerPool(services, concurrency=1)
    assert client.portal is not None
    client.portal.call(pool.start)
    try:
        deadline = time.monotonic() + 40
        while _job_of(client, video_id).state in ("queued", "running"):
            assert time.monotonic() < deadline, "the worker never finished the job"
            time.sleep(0.1)
    finally:
        client.portal.call(pool.stop)

    lines: list[dict[str, Any]] = [json.loads(x) for x in json_log.getvalue().splitlines()]
    # the api's line for the request, with its id
    (completed,) = [x for x in lines if x["msg"].endswith(f"complete: video {video_id} queued")]
    assert completed["request_id"] == rid and completed["logger"] == "reelstream.ingest.service"
    # the worker's lines for the job: the same id, and the job
    for_job = [x for x in lines if x.get("job_id") == job.id]
    assert any("claimed job" in x["msg"] for x in for_job)
    assert len(for_job) >= 2, for_job  # the claim, and what the failed probe said
    for x in for_job:
        assert (x["request_id"], x["kind"], x["video_id"]) == (rid, "transcode", video_id), x
    # the pool's own lines are no job's, and carry no request
    (started,) = [x for x in lines if WORKER_STARTED.decode() in x["msg"]]
    assert "request_id" not in started and "job_id" not in started
