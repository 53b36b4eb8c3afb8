"""The dispatcher against a real HTTP receiver: retries, signatures, leases, exclusivity."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter

import httpx
from sqlalchemy import select

from reelstream import webhooks
from reelstream.config import Settings
from reelstream.db.models import WebhookDelivery
from reelstream.queue.retry import RetryPolicy
from reelstream.services import Services
from reelstream.videos import repository as repo
from reelstream.webhooks.dispatcher import Dispatcher, retry_policy
from reelstream.webhooks.signing import verify
from tests.webhooks.helpers import deliveries_in, new_video, pump, user_with_endpoint
from tests.webhooks.receiver import Receiver


async def emit_events(
    services: Services, owner: str, n: int, kind: str = "video.ready"
) -> list[str]:
    ids = []
    for i in range(n):
        vid = await new_video(services, owner, title=f"v{i}")
        async with services.db.transaction() as s:
            event_id = await webhooks.emit(s, kind, vid)
        assert event_id is not None
        ids.append(event_id)
    return ids


async def all_deliveries(services: Services) -> list[WebhookDelivery]:
    async with services.db.read(primary=True) as s:
        return list(
            (await s.execute(select(WebhookDelivery).order_by(WebhookDelivery.id))).scalars()
        )


def _policy(settings: Settings, **update: float) -> RetryPolicy:
    return retry_policy(settings.model_copy(update=update))


def test_backoff_doubles_and_is_capped(settings: Settings) -> None:
    policy = _policy(settings, webhook_retry_base_s=10, webhook_retry_max_s=3600)
    assert [policy.delay(a) for a in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert policy.delay(30) == 3600
    assert policy.delay(500) == 3600


def test_the_backoff_schedule_is_the_one_deliveries_always_had(settings: Settings) -> None:
    def before(attempt: int, base_s: float, max_s: float) -> float:
        """The dispatcher's own formula before it used ``RetryPolicy``."""
        return float(min(max_s, base_s * 2 ** min(attempt - 1, 62)))

    for base_s, max_s in ((10, 3600), (0.2, 0.4), (1, 1e30), (0.001, 5e18), (3, 1)):
        policy = _policy(settings, webhook_retry_base_s=base_s, webhook_retry_max_s=max_s)
        for attempt in (*range(1, 200), 1000, 5000, 100_000):
            assert policy.delay(attempt) == before(attempt, base_s, max_s), (base_s, attempt)


def test_deliveries_retry_until_the_window_closes_however_many_attempts(
    settings: Settings,
) -> None:
    policy = _policy(
        settings,
        webhook_retry_base_s=10,
        webhook_retry_max_s=3600,
        webhook_retry_window_s=24 * 3600,
    )
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    window = dt.timedelta(hours=24)
    assert policy.retry_at(10_000, created, created) == created + dt.timedelta(hours=1)
    last = created + window - dt.timedelta(hours=1)
    assert policy.retry_at(40, last, created) == created + window  # on the deadline: retried
    assert policy.retry_at(40, last + dt.timedelta(seconds=1), created) is None


async def test_a_receiver_down_for_a_while_gets_every_event_once_it_recovers(
    services: Services, receiver: Receiver
) -> None:
    owner, _, secret = await user_with_endpoint(services, "ann", receiver.url)
    receiver.failures_left = 7  # the first 7 requests are answered 500
    ids = await emit_events(services, owner, 3)
    await pump(services, lambda: {r.headers["Webhook-Id"] for r in receiver.accepted()} >= set(ids))

    requests = receiver.requests()
    assert sum(r.answered == 500 for r in requests) == 7
    by_id: dict[str, list[bytes]] = {}
    for r in requests:
        assert verify(secret, r.headers, r.body), r.headers
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Webhook-Timestamp"].isdigit()
        body = json.loads(r.body)
        assert body["id"] == r.headers["Webhook-Id"]  # the idempotency id is in both
        assert body["type"] == "video.ready" and body["data"]["video"]["id"]
        by_id.setdefault(body["id"], []).append(r.body)
    assert set(by_id) == set(ids)
    for bodies in by_id.values():  # retries resend the same event, byte for byte
        assert len(set(bodies)) == 1
    assert max(len(b) for b in by_id.values()) > 1  # some were retried

    rows = await all_deliveries(services)
    assert all(d.state == "delivered" and d.delivered_at and d.last_status == 200 for d in rows)
    assert sum(d.attempts for d in rows) == len(requests)
    # delivered: nothing more is sent
    await asyncio.sleep(0.5)
    dispatcher = Dispatcher(services, "late")
    async with httpx.AsyncClient() as client:
        assert await dispatcher.run_once(client) == 0
    assert len(receiver.requests()) == len(requests)


async def test_a_delivery_gives_up_after_the_retry_window(
    services: Services, receiver: Receiver
) -> None:
    services.settings.webhook_retry_window_s = 0.6
    owner, _, _ = await user_with_endpoint(services, "ann", receiver.url)
    receiver.failures_left = 10_000
    await emit_events(services, owner, 1)

    async def finished() -> bool:
        return await deliveries_in(services, "failed") == 1

    deadline = asyncio.get_running_loop().time() + 30
    dispatcher = Dispatcher(services, "d")
    async with httpx.AsyncClient() as client:
        while not await finished():
            assert asyncio.get_running_loop().time() < deadline
            await dispatcher.run_once(client)
            await asyncio.sleep(0.05)
        (row,) = await all_deliveries(services)
        assert row.attempts >= 2 and row.last_status == 500 and row.delivered_at is None
        assert "500" in (row.last_error or "")
        sent = len(receiver.requests())
        await asyncio.sleep(0.5)
        assert await dispatcher.run_once(client) == 0  # failed for good: no more attempts
    assert len(receiver.requests()) == sent == row.attempts


async def test_unreachable_endpoints_are_retried_with_the_error_recorded(
    services: Services, receiver: Receiver
) -> None:
    owner, _, _ = await user_with_endpoint(services, "ann", "http://127.0.0.1:9/closed")
    await emit_events(services, owner, 1)
    dispatcher = Dispatcher(services, "d")
    async with httpx.AsyncClient() as client:
        assert await dispatcher.run_once(client) == 1
    (row,) = await all_deliveries(services)
    assert row.state == "pending" and row.attempts == 1 and row.last_status is None
    assert "ConnectError" in (row.last_error or "")
    assert row.next_attempt_at > (row.last_attempt_at or row.next_attempt_at)


async def test_concurrent_dispatchers_never_claim_the_same_delivery(
    services: Services, receiver: Receiver
) -> None:
    owner, _, _ = await user_with_endpoint(services, "ann", receiver.url)
    await emit_events(services, owner, 24)
    dispatchers = [Dispatcher(services, f"d{i}") for i in range(4)]
    batches = await asyncio.gather(*(d.claim(10) for d in dispatchers))
    claimed = [c.delivery_id for batch in batches for c in batch]
    assert len(claimed) == len(set(claimed)) == 24
    assert {row.lease_owner for row in await all_deliveries(services)} <= {"d0", "d1", "d2", "d3"}


async def test_two_running_dispatchers_send_each_event_once(
    services: Services, receiver: Receiver
) -> None:
    owner, _, _ = await user_with_endpoint(services, "ann", receiver.url)
    ids = await emit_events(services, owner, 20)

    def done() -> bool:
        return len(receiver.accepted()) >= len(ids)

    await asyncio.gather(pump(services, done, owner="one"), pump(services, done, owner="two"))
    await asyncio.sleep(0.3)
    counts = Counter(r.headers["Webhook-Id"] for r in receiver.requests())
    assert set(counts) == set(ids)
    assert set(counts.values()) == {1}


async def test_a_dispatcher_that_died_mid_send_is_taken_over_and_fenced(
    services: Services, receiver: Receiver
) -> None:
    owner, _, _ = await user_with_endpoint(services, "ann", receiver.url)
    (event_id,) = await emit_events(services, owner, 1)
    dead = Dispatcher(services, "dead")
    dead.lease_s = 0.3
    (stale,) = await dead.claim(5)  # ... and never reports back
    alive = Dispatcher(services, "alive")
    async with httpx.AsyncClient() as client:
        assert await alive.run_once(client) == 0  # still leased
        await asyncio.sleep(0.4)
        assert await alive.run_once(client) == 1  # the lease expired: taken over
        late = await dead.send(client, stale)
        assert late.ok
        assert await dead.record(stale, late) is None  # fenced: the attempt is not its own
    (row,) = await all_deliveries(services)
    assert row.state == "delivered" and row.attempts == 2 and row.lease_owner is None
    assert [r.headers["Webhook-Id"] for r in receiver.requests()] == [event_id, event_id]


async def test_deleting_the_video_keeps_its_deleted_event(
    services: Services, receiver: Receiver
) -> None:
    owner, _, _ = await user_with_endpoint(services, "ann", receiver.url)
    vid = await new_video(services, owner, title="gone")
    async with services.db.transaction() as s:
        video = await repo.get_video(s, vid)
        await webhooks.emit(s, "video.deleted", video)
        await repo.delete_video(s, vid)
    await pump(services, lambda: len(receiver.accepted()) == 1)
    body = json.loads(receiver.accepted()[0].body)
    assert body["type"] == "video.deleted" and body["data"]["video"]["title"] == "gone"
