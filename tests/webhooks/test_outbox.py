"""The transactional outbox: events exist exactly when their state change committed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from reelstream import webhooks
from reelstream.db.models import WebhookDelivery, WebhookEvent
from reelstream.services import Services
from reelstream.videos import repository as repo
from reelstream.webhooks.endpoints import create_endpoint
from tests.webhooks.helpers import new_video, user_with_endpoint

URL = "http://127.0.0.1:9/hook"


class Boom(Exception):
    pass


async def events_of(services: Services) -> list[WebhookEvent]:
    async with services.db.read(primary=True) as s:
        return list((await s.execute(select(WebhookEvent))).scalars())


async def test_emit_fans_out_to_the_owners_subscribed_endpoints(services: Services) -> None:
    owner, all_events, _ = await user_with_endpoint(services, "ann", URL)
    async with services.db.transaction() as s:  # a second endpoint, ready events only
        only_ready = await create_endpoint(
            s, owner, url=URL, events=["video.ready"], description="", allow_private=True
        )
    await user_with_endpoint(services, "bob", URL)  # someone else's endpoint: never told
    vid = await new_video(services, owner, title="Holiday")
    async with services.db.transaction() as s:
        await repo.mark_failed(s, vid, "it broke")
        event_id = await webhooks.emit(s, "video.failed", vid)
    assert event_id is not None and event_id.startswith("evt_")
    async with services.db.read(primary=True) as s:
        rows = list((await s.execute(select(WebhookDelivery))).scalars())
    assert {d.endpoint_id for d in rows} == {all_events}
    assert all(d.event_id == event_id and d.state == "pending" for d in rows)
    (event,) = await events_of(services)
    body = json.loads(event.body)
    assert body["id"] == event_id and body["type"] == "video.failed"
    assert body["data"]["video"] == {**body["data"]["video"], "id": vid, "title": "Holiday"}
    assert body["data"]["video"]["status"] == "failed"
    assert body["data"]["video"]["error"] == "it broke"
    assert body["created_at"].endswith("Z")
    assert only_ready.id not in {d.endpoint_id for d in rows}


async def test_a_rolled_back_state_change_emits_nothing(services: Services) -> None:
    owner, _, _ = await user_with_endpoint(services, "ann", URL)
    vid = await new_video(services, owner)
    with pytest.raises(Boom):
        async with services.db.transaction() as s:
            await repo.mark_failed(s, vid, "never happened")
            assert await webhooks.emit(s, "video.failed", vid) is not None
            raise Boom
    assert await events_of(services) == []
    async with services.db.read(primary=True) as s:
        assert list((await s.execute(select(WebhookDelivery))).scalars()) == []
        assert (await repo.get_video(s, vid)).status == "uploading"


async def test_videos_without_owner_or_subscriber_emit_nothing(services: Services) -> None:
    await user_with_endpoint(services, "ann", URL, events=["video.deleted"])
    orphan = await new_video(services, None)
    async with services.db.transaction() as s:
        assert await webhooks.emit(s, "video.ready", orphan) is None
    owner, _, _ = await user_with_endpoint(services, "cat", URL, events=["video.deleted"])
    vid = await new_video(services, owner)
    async with services.db.transaction() as s:
        assert await webhooks.emit(s, "video.ready", vid) is None  # not subscribed
    assert await events_of(services) == []
    with pytest.raises(ValueError, match="unknown"):
        async with services.db.transaction() as s:
            await webhooks.emit(s, "video.sneezed", vid)
