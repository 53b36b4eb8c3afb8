"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database_and_storage(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}


def test_readyz_fails_with_a_reason_when_storage_is_gone(client: TestClient) -> None:
    root = client.app.state.services.settings.resolved_storage_root  # type: ignore[attr-defined]
    shutil.rmtree(root)
    root.write_text("not a folder")
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["storage"].startswith("error:")
    assert resp.json()["checks"]["database"] == "ok"


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/api/v1/videos/AAAAAAAAAAAAAAAA")
    client.get("/api/v1/videos/BBBBBBBBBBBBBBBB")
    text = client.get("/metrics").text
    assert (
        'reelstream_http_requests_total{method="GET",route="/api/v1/videos/{video_id}",'
        'status="404"} 2.0' in text
    )
    assert "reelstream_http_request_duration_seconds_bucket" in text
    assert 'reelstream_jobs{state="queued"} 0.0' in text
    for name in (
        "reelstream_uploads_created_total",
        "reelstream_uploads_completed_total",
        "reelstream_transcode_duration_seconds",
    ):
        assert name in text


def test_openapi_lists_the_public_contract(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/uploads",
        "/api/v1/uploads/{upload_id}",
        "/api/v1/videos",
        "/api/v1/videos/{video_id}",
        "/api/v1/videos/{video_id}/playback",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths, path


def test_metrics_count_workers_by_state(client: TestClient) -> None:
    """Operators alert on stale workers (or on none running) from /metrics."""
    from tests.admin.conftest import add_worker

    services = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(lambda: add_worker(services, "host-a:11"))
    client.portal.call(lambda: add_worker(services, "host-b:12", heartbeat_age_s=3600))
    client.portal.call(lambda: add_worker(services, "host-c:13", stopped_age_s=60))
    text = client.get("/metrics").text
    assert 'reelstream_workers{state="running"} 1.0' in text
    assert 'reelstream_workers{state="stale"} 1.0' in text
    assert 'reelstream_workers{state="stopped"} 1.0' in text


def test_metrics_expose_what_an_autoscaler_needs(client: TestClient) -> None:
    """In-flight requests and sheds per pool, the queue's backlog by kind with the oldest ready
    job's wait, and the running workers' slot utilisation (from the workers registry)."""
    import datetime as dt

    from sqlalchemy import update

    from reelstream.db.base import utcnow
    from reelstream.db.models import Job
    from reelstream.queue import workers as registry
    from reelstream.videos import repository as videos

    services = client.app.state.services  # type: ignore[attr-defined]

    async def arrange() -> None:
        for _ in range(2):
            async with services.db.transaction() as s:
                video = await videos.create_video(s, title="t", filename="t.mp4")
                await videos.mark_uploaded(s, video, source_key="k", source_bytes=1)
                await services.queue.enqueue(s, video.id)
        async with services.db.transaction() as s:
            await s.execute(update(Job).values(run_at=utcnow() - dt.timedelta(seconds=90)))
        await registry.register(services.db, "a:1", slots=2)
        await registry.register(services.db, "b:2", slots=2)
        await registry.beat(services.db, "a:1", running=2)
        await registry.beat(services.db, "b:2", running=1)
        await registry.register(services.db, "c:3", slots=8)  # stopped: not counted
        await registry.mark_stopped(services.db, "c:3")

    client.portal.call(arrange)  # type: ignore[union-attr]
    text = client.get("/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['reelstream_jobs_queued{kind="transcode"}'] == 2
    assert samples['reelstream_jobs_queued{kind="poster"}'] == 0
    assert 90 <= samples['reelstream_jobs_oldest_ready_age_seconds{kind="transcode"}'] < 150
    assert samples['reelstream_jobs_oldest_ready_age_seconds{kind="poster"}'] == 0
    assert samples['reelstream_worker_slots{state="total"}'] == 4
    assert samples['reelstream_worker_slots{state="busy"}'] == 3
    assert samples["reelstream_worker_utilization"] == 0.75
    for pool in ("api", "media", "uploads"):
        assert f'reelstream_http_inflight{{pool="{pool}"}}' in samples
        assert f'reelstream_http_shed_total{{pool="{pool}"}}' in samples
    # the /metrics request itself is never counted in flight
    assert samples['reelstream_http_inflight{pool="api"}'] == 0


def test_metrics_export_no_zeros_for_events_this_process_never_sees(client: TestClient) -> None:
    """The alert metrics of other processes (job outcomes, time to playable/ready: workers;
    object store errors: none yet) are absent, not a misleading zero; the signing key's
    creation time (the rotation alert) is there: this install generated its key."""
    text = client.get("/metrics").text
    for absent in (
        "reelstream_jobs_finished_total{",
        "reelstream_video_time_to_playable_seconds",
        "reelstream_video_time_to_ready_seconds",
        "reelstream_storage_errors_total{",
    ):
        assert absent not in text, absent
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    created = (settings.data_dir / "secrets" / "signing.key").stat().st_mtime
    name = f'reelstream_signing_key_created_timestamp_seconds{{kid="{settings.signing_key_id}"}} '
    values = [float(ln[len(name) :]) for ln in text.splitlines() if ln.startswith(name)]
    assert values == [pytest.approx(created)]
