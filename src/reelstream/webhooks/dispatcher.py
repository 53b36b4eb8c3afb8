"""The dispatcher: claims due deliveries under a lease, POSTs them, records the outcome.

Deliveries are leased rows like jobs (``reelstream.queue.lease``): one ``UPDATE … WHERE id =
(SELECT … LIMIT 1) RETURNING`` per delivery inside a write transaction, so two dispatchers
never hold the same delivery. A claim moves the delivery to ``sending``, increments
``attempts`` and leases it for ``lease_s`` (twice the request timeout plus 10 s); a dispatcher
that dies mid-send leaves a lease that expires, and the delivery is claimed again (there is no
reaper: an expired ``sending`` delivery is simply due). The result write is fenced on
(id, attempts), so a dispatcher whose lease was taken over changes nothing.

A 2xx answer within ``webhook_timeout_s`` is delivered; anything else (another status, a
timeout, a refused connection, an address that is not globally routable, a name that does not
resolve) is retried as ``retry_policy(settings)``
says: after ``webhook_retry_base_s * 2**(attempt-1)`` seconds, capped at
``webhook_retry_max_s``, until the event is ``webhook_retry_window_s`` old: then the delivery
is failed. Each pass claims at most ``webhook_concurrency`` deliveries and sends them
concurrently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream import __version__
from reelstream.config import Settings
from reelstream.db.base import utcnow
from reelstream.db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from reelstream.queue.lease import Leases
from reelstream.queue.retry import RetryPolicy
from reelstream.webhooks.errors import InvalidWebhook
from reelstream.webhooks.signing import sign_headers
from reelstream.webhooks.urls import resolve_destination

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500
USER_AGENT = f"reelstream-webhooks/{__version__}"


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    attempt: int
    event_id: str
    event_created_at: dt.datetime
    url: str
    secret: str
    body: str


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    error: str | None


def retry_policy(settings: Settings) -> RetryPolicy:
    """Deliveries retry with doubling delays for as long as their event is younger than the
    retry window, however many attempts that takes."""
    return RetryPolicy(
        max_attempts=None,
        base_s=settings.webhook_retry_base_s,
        max_s=settings.webhook_retry_max_s,
        factor=2.0,
        horizon_s=settings.webhook_retry_window_s,
    )


class Dispatcher:
    def __init__(self, services: Services, owner: str) -> None:
        self.services = services
        self.settings = services.settings
        self.owner = owner
        self.lease_s = self.settings.webhook_timeout_s * 2 + 10
        self.policy = retry_policy(self.settings)
        self.leases = Leases(WebhookDelivery, held="sending", skip_locked=not services.db.is_sqlite)

    # -- claiming
    def _due(self, now: dt.datetime) -> ColumnElement[bool]:
        d = WebhookDelivery
        return or_(and_(d.state == "pending", d.next_attempt_at <= now), self.leases.expired(now))

    async def _claim_one(self, session: AsyncSession) -> tuple[int, int] | None:
        d = WebhookDelivery
        now = utcnow()
        row = await self.leases.claim(
            session,
            due=self._due(now),
            order_by=(d.next_attempt_at, d.id),
            owner=self.owner,
            expires_at=now + dt.timedelta(seconds=self.lease_s),
            values={"last_attempt_at": now},
            returning=(),
        )
        return None if row is None else (int(row.id), int(row.attempts))

    async def claim(self, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` due deliveries (one write transaction, taken only when a
        read finds something due: an idle dispatcher never holds SQLite's write lock)."""
        async with self.services.db.read(primary=True) as s:
            due = self._due(utcnow())
            found = await s.execute(select(WebhookDelivery.id).where(due).limit(1))
            if found.first() is None:
                return []
        async with self.services.db.transaction() as s:
            leased: dict[int, int] = {}
            for _ in range(limit):
                got = await self._claim_one(s)
                if got is None:
                    break
                leased[got[0]] = got[1]
            if not leased:
                return []
            rows = (
                await s.execute(
                    select(
                        WebhookDelivery.id,
                        WebhookEvent.id.label("event_id"),
                        WebhookEvent.created_at,
                        WebhookEvent.body,
                        WebhookEndpoint.url,
                        WebhookEndpoint.secret,
                    )
                    .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(WebhookDelivery.id.in_(leased))
                    .order_by(WebhookDelivery.id)
                )
            ).all()
        return [
            Claimed(
                delivery_id=r.id,
                attempt=leased[r.id],
                event_id=r.event_id,
                event_created_at=r.created_at,
                url=r.url,
                secret=r.secret,
                body=r.body,
            )
            for r in rows
        ]

    # -- sending
    async def send(self, client: httpx.AsyncClient, claimed: Claimed) -> Outcome:
        body = claimed.body.encode()
        try:
            destination = await resolve_destination(
                claimed.url, allow_private=self.settings.allow_private_webhooks
            )
        except InvalidWebhook as exc:
            return Outcome(False, None, exc.message)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **sign_headers(claimed.secret, claimed.event_id, body),
        }
        if destination.host_header is not None:
            headers["Host"] = destination.host_header
        extensions: dict[str, object] = {}
        if destination.sni_hostname is not None:
            extensions["sni_hostname"] = destination.sni_hostname
        try:
            async with client.stream(
                "POST",
                destination.url,  # a checked address: the name is not looked up again
                content=body,
                headers=headers,
                timeout=self.settings.webhook_timeout_s,
                follow_redirects=False,
                extensions=extensions,
            ) as response:  # the answer's body is never read: only its status counts
                status = response.status_code
        except httpx.HTTPError as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS] or None)
        if 200 <= status < 300:
            return Outcome(True, status, None)
        return Outcome(False, status, f"the endpoint answered HTTP {status}")

    # -- recording
    async def record(self, claimed: Claimed, outcome: Outcome) -> str | None:
        """Write the attempt's result, fenced on the claim. Returns the new state, or None
        when the claim was lost (its lease expired and another dispatcher took it)."""
        now = utcnow()
        values: dict[str, object] = {
            "last_status": outcome.status,
            "last_error": outcome.error,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if outcome.ok:
            values.update(state="delivered", delivered_at=now)
        else:
            retry_at = self.policy.retry_at(claimed.attempt, now, claimed.event_created_at)
            if retry_at is None:
                values.update(state="failed")
            else:
                values.update(state="pending", next_attempt_at=retry_at)
        async with self.services.db.transaction() as session:
            held = await self.leases.write(session, claimed.delivery_id, claimed.attempt, values)
        if not held:
            return None
        state = str(values["state"])
        if state == "failed":
            log.warning(
                "webhook delivery %d (event %s) failed for good after %d attempts: %s",
                claimed.delivery_id,
                claimed.event_id,
                claimed.attempt,
                outcome.error,
            )
        return state

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim, send and record one batch; returns how many deliveries were attempted."""
        batch = await self.claim(self.settings.webhook_concurrency)

        async def one(claimed: Claimed) -> None:
            outcome = await self.send(client, claimed)
            await self.record(claimed, outcome)

        await asyncio.gather(*(one(c) for c in batch))
        return len(batch)
