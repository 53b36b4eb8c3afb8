"""The whole app on PostgreSQL primary + streaming replica while the primary goes away.

(a) primary stopped: reads and playback URLs come from the replica, writes answer 503 with
    Retry-After and a JSON reason (tus creation too), /readyz says not ready, and /media serves
    the published playlist without a single database statement (even with no database at all);
(b) primary back: writes succeed again in the same app, no restart;
(c) failover: the standby is promoted; with a multi-host writer URL writes succeed again by
    themselves (the time from promotion to the first successful write is measured);
and a worker pool keeps claiming after the primary comes back.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.db.models import Job
from reelstream.services import Services, build_services
from reelstream.worker import WorkerPool
from tests.fixtures.postgres import PgCluster
from tests.support import sign_in
from tests.videos.factories import MASTER, create_video, publish_fake, queue_video

T = TypeVar("T")
TIMEOUT_S = 2.0


def run(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run an async function in the app's event loop."""
    assert client.portal is not None
    return client.portal.call(partial(fn, *args))


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def count_statements(services: Services) -> list[str]:
    """Every SQL statement either engine of the app sends, appended as it happens."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    for engine in {services.db.writer, services.db.reader}:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


def assert_unavailable(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert int(r.headers["retry-after"]) > 0
    error = r.json()["error"]
    assert error["code"] == "database_unavailable"
    assert "unavailable" in error["message"]


def tus_create(client: TestClient) -> Any:
    name = base64.b64encode(b"clip.mp4").decode()
    return client.post(
        "/api/v1/uploads",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "1000",
            "Upload-Metadata": f"filename {name}",
        },
    )


@pytest.fixture
def cluster(pg_cluster_factory: Callable[..., PgCluster]) -> PgCluster:
    return pg_cluster_factory(standby=True)


def app_settings(settings: Settings, writer_url: str, replica_url: str) -> Settings:
    return settings.model_copy(
        update={
            "database_url": writer_url,
            "database_replica_url": replica_url,
            "database_timeout_s": TIMEOUT_S,
        }
    )


@pytest.fixture
def ready_client(cluster: PgCluster, settings: Settings) -> Iterator[tuple[TestClient, str]]:
    """The app (single-host writer URL, replica for reads) with one published video."""
    assert cluster.standby is not None
    name = cluster.create_database()
    cfg = app_settings(settings, cluster.primary.url(name), cluster.standby.url(name))
    with TestClient(create_app(cfg)) as client:
        sign_in(client)
        services = services_of(client)
        vid = run(client, create_video, services)
        run(client, queue_video, services, vid)
        run(client, publish_fake, services, vid)
        cluster.wait_replayed()
        yield client, vid


def test_primary_down_then_back(
    ready_client: tuple[TestClient, str], cluster: PgCluster, request: pytest.FixtureRequest
) -> None:
    client, vid = ready_client
    assert cluster.standby is not None
    services = services_of(client)
    hls = client.get(f"/api/v1/videos/{vid}/playback").json()["hls_url"]
    media = urlsplit(hls).path
    assert client.get("/readyz").status_code == 200
    # An origin-role process of the same deployment (same storage and signing keys).
    stack = ExitStack()
    request.addfinalizer(stack.close)
    origin = stack.enter_context(TestClient(create_app(services.settings, role="origin")))

    cluster.primary.stop()

    # (a) reads come from the replica
    r = client.get(f"/api/v1/videos/{vid}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready" and r.json()["playable"] is True
    r = client.get(f"/api/v1/videos/{vid}/playback")
    assert r.status_code == 200, r.text
    assert r.json()["hls_url"].startswith("http")
    assert client.get("/api/v1/videos").status_code == 200

    # writes fail fast with 503 + Retry-After + a reason, never a 500
    started = time.monotonic()
    assert_unavailable(client.patch(f"/api/v1/videos/{vid}", json={"title": "renamed"}))
    assert time.monotonic() - started < TIMEOUT_S + 2
    assert_unavailable(tus_create(client))
    assert_unavailable(client.delete(f"/api/v1/videos/{vid}"))

    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("error")

    # the origin serves the published playlist without touching the database
    statements = count_statements(services)
    r = client.get(media)
    assert r.status_code == 200, r.text
    assert r.text == MASTER
    assert statements == []
    cluster.standby.stop()  # no database left at all: playback still works
    assert client.get(media).text == MASTER
    assert client.get(media.replace("master.m3u8", "v360/index.m3u8")).status_code == 200
    assert statements == []
    with stack:  # the origin role needs no database to be ready or to serve
        r = origin.get("/readyz")
        assert r.status_code == 200, r.text
        assert "database" not in r.json()["checks"]
        assert origin.get(media).text == MASTER
    cluster.standby.start()

    # (b) the primary returns: the same app writes again
    cluster.primary.start()
    r = client.patch(f"/api/v1/videos/{vid}", json={"title": "renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "renamed"
    cluster.wait_replayed()
    assert client.get(f"/api/v1/videos/{vid}").json()["title"] == "renamed"
    assert tus_create(client).status_code == 201
    assert client.get("/readyz").status_code == 200


def test_promoted_standby_takes_writes_without_restart(
    cluster: PgCluster, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cluster.standby is not None
    name = cluster.create_database()
    cfg = app_settings(settings, cluster.multi_host_url(name), cluster.standby.url(name))
    with TestClient(create_app(cfg)) as client:
        sign_in(client)
        services = services_of(client)
        vid = run(client, create_video, services)
        run(client, queue_video, services, vid)
        run(client, publish_fake, services, vid)
        cluster.wait_replayed()

        cluster.primary.stop()
        assert_unavailable(client.patch(f"/api/v1/videos/{vid}", json={"title": "during"}))
        assert client.get(f"/api/v1/videos/{vid}/playback").status_code == 200

        promoted_at = time.monotonic()
        cluster.standby.promote()
        promote_returned = time.monotonic() - promoted_at
        attempts = 0
        while True:
            attempts += 1
            r = client.patch(f"/api/v1/videos/{vid}", json={"title": "after failover"})
            if r.status_code == 200:
                break
            assert_unavailable(r)
            assert time.monotonic() - promoted_at < 30, "writes never resumed"
            time.sleep(0.05)
        first_write = time.monotonic() - promoted_at
        with capsys.disabled():
            print(
                f"\n[failover] pg_ctl promote returned after {promote_returned:.3f} s; first "
                f"successful write {first_write:.3f} s after promotion ({attempts} attempt(s))"
            )
        assert client.get(f"/api/v1/videos/{vid}").json()["title"] == "after failover"
        assert tus_create(client).status_code == 201
        assert client.get("/readyz").status_code == 200


async def test_a_worker_pool_survives_the_primary_going_away(
    pg_cluster_factory: Callable[..., PgCluster], settings: Settings
) -> None:
    cluster = pg_cluster_factory(standby=False)
    url = cluster.primary.url(cluster.create_database())
    cfg = settings.model_copy(update={"database_url": url, "database_timeout_s": TIMEOUT_S})
    cfg.prepare()
    await asyncio.to_thread(upgrade, url)
    services = build_services(cfg)
    await services.start()
    pool = WorkerPool(services)
    try:
        await pool.start()
        await asyncio.to_thread(cluster.primary.stop)
        await asyncio.sleep(cfg.poll_interval_s * 5)  # several failed claim rounds
        await asyncio.to_thread(cluster.primary.start)
        assert pool.running
        vid = await create_video(services)
        await queue_video(services, vid)
        deadline = time.monotonic() + 20
        while True:
            async with services.db.read() as s:
                job = (await s.execute(select(Job))).scalar_one()
            if job.attempts >= 1:
                break
            assert time.monotonic() < deadline, "the worker never claimed after the outage"
            await asyncio.sleep(0.1)
    finally:
        await pool.stop()
        await services.close()
