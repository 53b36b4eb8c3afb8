"""The aggregator's writes on SQLite and on PostgreSQL: batched count UPDATEs and the
position upsert (insert, then update in place)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from reelstream.auth.accounts import create_user
from reelstream.db.models import Video, WatchPosition
from reelstream.services import Services
from reelstream.views.aggregator import ViewAggregator
from tests.videos.factories import create_video


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services


async def test_counts_and_positions_round_trip(services: Services) -> None:
    async with services.db.transaction() as s:
        user = await create_user(s, "watcher", None)
        uid = user.id
    vid = await create_video(services, "v", owner=None)
    agg = ViewAggregator(services.db, flush_batch=3)
    for n in range(5):
        assert await agg.record_view(vid, f"session-{n:03d}")
    agg.record_position(uid, vid, 4.5)
    await agg.flush()
    agg.record_position(uid, vid, 9.0)  # the upsert updates the same row
    await agg.record_view(vid, "session-999")
    await agg.stop()
    async with services.db.read(primary=True) as s:
        count = (await s.execute(select(Video.view_count).where(Video.id == vid))).scalar_one()
        rows = (await s.execute(select(WatchPosition.position_s))).scalars().all()
    assert count == 6
    assert list(rows) == [9.0]
    assert await agg.position(uid, vid) == 9.0
    assert await agg.position(uid, "AAAAAAAAAAAAAAAA") is None
