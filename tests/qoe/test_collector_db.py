"""The QoE collector's writes and the summary's query on SQLite and on PostgreSQL: one row per
session merged across flushes, metrics by what the row gained, sessions of a deleted video
dropped, old sessions pruned, and the window's figures read back."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select, update

from reelstream.db.base import utcnow
from reelstream.db.models import QoeSession, Video
from reelstream.qoe import stats
from reelstream.qoe.collector import QoeCollector
from reelstream.qoe.metrics import PlayerMetrics
from reelstream.qoe.report import parse
from reelstream.services import Services
from tests.videos.factories import create_video

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services


async def test_sessions_merge_count_once_and_sum_up(services: Services) -> None:
    registry = CollectorRegistry()
    qoe = QoeCollector(services.db, PlayerMetrics(registry), flush_batch=100)
    vid = await create_video(services, "v", owner=None)
    gone = await create_video(services, "gone", owner=None)
    start = {"started": "1", "startup_s": "1.5", "watch_s": "1", "bitrate_bps": "500000"}
    await qoe.record(vid, "session-a", parse(start))
    await qoe.record(vid, "session-b", parse({"started": "1", "startup_s": "0.5"}))
    await qoe.record(gone, "session-c", parse(start))
    async with services.db.transaction() as s:  # deleted before the flush: its row is dropped
        await s.execute(delete(Video).where(Video.id == gone))
    await qoe.flush()
    later = {**start, "watch_s": "20", "rebuffer_s": "2", "rebuffer_count": "1"}
    await qoe.record(vid, "session-a", parse(later))
    await qoe.record(vid, "session-a", parse(start))  # late and repeated
    await qoe.stop()

    async with services.db.read(primary=True) as s:
        rows = (await s.execute(select(QoeSession).order_by(QoeSession.session_id))).scalars()
        got = {(r.video_id, r.session_id): (r.watch_s, r.rebuffer_s, r.startup_s) for r in rows}
    assert set(got) == {(vid, "session-a"), (vid, "session-b")}
    assert got[(vid, "session-a")] == (20, 2, 1.5)
    assert got[(vid, "session-b")] == (0, 0, 0.5)

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert sample("reelstream_player_sessions_total", outcome="played") == 2
    assert sample("reelstream_player_watch_seconds_total") == sum(v[0] for v in got.values())
    assert sample("reelstream_player_rebuffer_seconds_total") == 2
    assert sample("reelstream_player_startup_seconds_count") == 2

    async with services.db.read(primary=True) as s:
        summary = await stats.summary(s, "24h", vid)
    assert summary.video is not None and summary.video.sessions == 2
    assert summary.video.startup_p50_s == 0.5 and summary.video.startup_p95_s == 1.5
    assert summary.video.rebuffer_ratio == pytest.approx(0.1)


async def test_old_sessions_leave_the_window_and_are_pruned(services: Services) -> None:
    qoe = QoeCollector(services.db, PlayerMetrics(CollectorRegistry()), retention_days=30)
    vid = await create_video(services, "v", owner=None)
    for name in ("session-old", "session-week", "session-new"):
        await qoe.record(vid, name, parse({"started": "1", "startup_s": "1", "watch_s": "5"}))
    await qoe.flush()
    ages = {"session-old": dt.timedelta(days=31), "session-week": dt.timedelta(days=3)}
    async with services.db.transaction() as s:
        for name, age in ages.items():
            await s.execute(
                update(QoeSession)
                .where(QoeSession.session_id == name)
                .values(updated_at=utcnow() - age)
            )
    async with services.db.read(primary=True) as s:
        assert (await stats.summary(s, "24h")).overall.sessions == 1
        assert (await stats.summary(s, "7d")).overall.sessions == 2
    qoe._pruned_at = None  # the hourly prune is due
    await qoe.flush()
    async with services.db.read(primary=True) as s:
        left = set((await s.execute(select(QoeSession.session_id))).scalars())
    assert left == {"session-week", "session-new"}
