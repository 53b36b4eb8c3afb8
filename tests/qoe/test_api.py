"""The QoE beacon and the admin QoE view against the real HTTP API: every field checked (422
with the reason), the view rules of the other beacons, one row per session written in batches,
the metrics counted once per session whatever the beacons repeat, and the figures (startup
percentiles, rebuffer ratio, failure and exit %, bitrate, upscaling) per video and overall,
for admins only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from reelstream.config import Settings
from reelstream.db.models import QoeSession
from reelstream.qoe.collector import QoeCollector
from tests.admin.conftest import Admin, admin  # noqa: F401  (fixture)
from tests.videos.factories import create_video, publish_fake

pytestmark = pytest.mark.timeout(60)
SESSION = "sess0000000000000001"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.views_flush_interval_s = 3600  # explicit and shutdown flushes only
    return settings


def new_video(a: Admin, title: str, visibility: str = "public") -> str:
    vid = str(a.run(create_video, a.services, title, visibility=visibility))
    a.run(publish_fake, a.services, vid)
    return vid


def collector(client: TestClient) -> QoeCollector:
    c: QoeCollector = client.app.state.qoe  # type: ignore[attr-defined]
    return c


def send(client: TestClient, vid: str, session: object = SESSION, **fields: object) -> int:
    body = {"session": str(session), **{k: str(v) for k, v in fields.items()}}
    r = client.post(f"/api/v1/videos/{vid}/qoe", data=body)
    return r.status_code


def metric(a: Admin, name: str, **labels: str) -> float:
    value = a.services.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def stored(a: Admin) -> int:
    async def count() -> int:
        async with a.services.db.read(primary=True) as s:
            return int((await s.execute(select(func.count()).select_from(QoeSession))).scalar_one())

    return int(a.run(count))


def test_the_beacon_checks_every_field_and_the_video(admin: Admin) -> None:  # noqa: F811
    vid = new_video(admin, "checked")
    anon = admin.anon
    r = anon.post(f"/api/v1/videos/{vid}/qoe", data={"session": SESSION, "watch_s": "-3"})
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "invalid_beacon",
        "message": "watch_s must be between 0 and 86400",
    }
    r = anon.post(f"/api/v1/videos/{vid}/qoe", json={"session": SESSION, "started": 1})
    assert r.status_code == 422 and "startup_s is required" in r.json()["error"]["message"]
    r = anon.post(f"/api/v1/videos/{vid}/qoe", data={"session": "no"})
    assert r.status_code == 422 and "session" in r.json()["error"]["message"]
    r = anon.post(f"/api/v1/videos/{vid}/qoe", content=b"[1]", headers={"content-type": "x/y"})
    assert r.status_code == 422
    assert send(anon, "0000000000000000", started=1, startup_s=1) == 404
    private = new_video(admin, "mine", visibility="private")
    assert send(anon, private, started=1, startup_s=1) == 401  # as the view beacon
    assert send(admin.client, private, started=1, startup_s=1) == 202  # its owner may
    r = anon.post(
        f"/api/v1/videos/{vid}/qoe",
        json={"session": SESSION, "started": True, "startup_s": 0.5, "watch_s": 3},
    )
    assert r.status_code == 202 and r.json() == {"accepted": True}
    assert collector(admin.client).pending == 2


def test_a_session_is_one_row_and_counts_once(admin: Admin) -> None:  # noqa: F811
    vid = new_video(admin, "counted")
    anon = admin.anon
    start = {"engine": "hls", "started": 1, "startup_s": 0.8, "watch_s": 0.2, "bitrate_bps": 1e6}
    assert send(anon, vid, **start) == 202
    admin.run(collector(anon).flush)
    assert metric(admin, "reelstream_player_sessions_total", outcome="played") == 1
    assert metric(admin, "reelstream_player_startup_seconds_count") == 1
    assert metric(admin, "reelstream_player_startup_seconds_sum") == pytest.approx(0.8)
    assert metric(admin, "reelstream_player_bitrate_bps_count") == 1

    periodic = {**start, "watch_s": 70, "rebuffer_s": 1.5, "rebuffer_count": 2, "switches": 1}
    for _ in range(3):  # a repeated beacon (and one in the same batch) changes nothing
        assert send(anon, vid, **periodic) == 202
    admin.run(collector(anon).flush)
    assert send(anon, vid, **periodic) == 202
    assert send(anon, vid, **start) == 202  # the start beacon, delivered late
    admin.run(collector(anon).flush)

    assert stored(admin) == 1
    assert metric(admin, "reelstream_player_sessions_total", outcome="played") == 1
    assert metric(admin, "reelstream_player_startup_seconds_count") == 1
    assert metric(admin, "reelstream_player_watch_seconds_total") == pytest.approx(70)
    assert metric(admin, "reelstream_player_rebuffer_seconds_total") == pytest.approx(1.5)
    assert metric(admin, "reelstream_player_rebuffers_total") == 2
    assert metric(admin, "reelstream_player_bitrate_bps_count") == 2  # start + a full minute
    assert metric(admin, "reelstream_player_playback_failures_total") == 0

    assert send(anon, vid, **{**periodic, "error": "hls:networkError:fragLoadError"}) == 202
    assert send(anon, vid, "sess-exited-000001", exited=1) == 202
    assert send(anon, vid, "sess-failed-000001", error="hls:networkError:manifestLoadError") == 202
    admin.run(collector(anon).flush)
    assert metric(admin, "reelstream_player_playback_failures_total") == 2
    assert metric(admin, "reelstream_player_sessions_total", outcome="failed") == 1
    assert metric(admin, "reelstream_player_sessions_total", outcome="exited_before_start") == 1
    assert metric(admin, "reelstream_player_sessions_total", outcome="played") == 1
    text = admin.anon.get("/metrics").text
    assert 'reelstream_player_sessions_total{outcome="played"} 1.0' in text
    assert "video" not in "".join(
        line for line in text.splitlines() if line.startswith("reelstream_player_")
    )


def test_the_admin_view_sums_the_sessions(admin: Admin) -> None:  # noqa: F811
    a, b = new_video(admin, "Smooth"), new_video(admin, "Stalls <b>")
    anon = admin.anon
    for i, startup in enumerate([0.5, 1.0, 1.5, 2.0]):  # four sessions of A, one played 120 s
        assert send(anon, a, f"sessA-{i:08d}", started=1, startup_s=startup, watch_s=30,
                    bitrate_bps=1_000_000, upscale_pct=0) == 202  # fmt: skip
    assert send(anon, b, "sessB-00000001", started=1, startup_s=4, watch_s=90, rebuffer_s=9,
                rebuffer_count=3, bitrate_bps=400_000, upscale_pct=50) == 202  # fmt: skip
    assert send(anon, b, "sessB-00000002", exited=1) == 202
    assert send(anon, b, "sessB-00000003", error="dash:27") == 202
    admin.run(collector(anon).flush)

    assert anon.get("/api/v1/admin/qoe").status_code == 401
    assert admin.anon.get("/api/v1/admin/qoe", headers=admin.headers("user")).status_code == 403
    r = admin.as_admin("GET", "/api/v1/admin/qoe", params={"window": "24h", "video_id": b})
    assert r.status_code == 200, r.text
    body = r.json()
    overall = body["overall"]
    assert (overall["sessions"], overall["started"]) == (7, 5)
    assert overall["startup_p50_s"] == 1.5 and overall["startup_p95_s"] == 4
    assert overall["watch_s"] == 210 and overall["rebuffer_s"] == 9
    assert overall["rebuffer_ratio"] == pytest.approx(9 / 210)
    assert overall["failure_pct"] == pytest.approx(100 / 7)
    assert overall["exits_before_start_pct"] == pytest.approx(100 / 7)
    assert overall["avg_bitrate_bps"] == pytest.approx((120 * 1e6 + 90 * 4e5) / 210)
    assert overall["upscale_pct"] == pytest.approx(90 * 50 / 210)
    video = body["video"]
    assert video["sessions"] == 3 and video["rebuffer_ratio"] == pytest.approx(0.1)
    assert video["failure_pct"] == pytest.approx(100 / 3)
    top = [(v["video_id"], v["title"]) for v in body["top_rebuffering"]]
    assert top == [(b, "Stalls <b>"), (a, "Smooth")]  # both watched >= 60 s, worst first
    assert admin.as_admin("GET", "/api/v1/admin/qoe", params={"window": "2y"}).status_code == 422

    page = admin.as_admin("GET", "/admin/qoe?window=7d")
    assert page.status_code == 200
    assert "Stalls &lt;b&gt;" in page.text and "Stalls <b>" not in page.text
    assert 'data-figure="rebuffer-ratio"><th scope="row">Rebuffer ratio</th><td>4.29 %' in page.text
    assert admin.anon.get("/admin/qoe", headers=admin.headers("user")).status_code == 403
    assert 'href="/admin/qoe"' in admin.as_admin("GET", "/admin").text
