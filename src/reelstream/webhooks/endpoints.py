"""Registering, listing and removing endpoints; reading their deliveries.

Endpoints belong to a user. Everything here takes the caller's id and whether they act as an
admin; another user's endpoint is reported as not found (its existence is not revealed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from reelstream.ids import is_valid_id, new_id
from reelstream.webhooks.errors import InvalidWebhook, WebhookNotFound
from reelstream.webhooks.events import EVENT_TYPES
from reelstream.webhooks.signing import new_secret
from reelstream.webhooks.urls import check_destination, check_url

MAX_DESCRIPTION = 300
MAX_ENDPOINTS_PER_USER = 20


def parse_events(events: Iterable[str] | None) -> list[str]:
    """The chosen event types in canonical order; None means all of them."""
    if events is None:
        return list(EVENT_TYPES)
    chosen = {e.strip() for e in events}
    unknown = sorted(chosen - set(EVENT_TYPES))
    if unknown or not chosen:
        raise InvalidWebhook(
            f"events must be a non-empty subset of {', '.join(EVENT_TYPES)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return [e for e in EVENT_TYPES if e in chosen]


async def create_endpoint(
    session: AsyncSession,
    owner_id: str,
    *,
    url: str,
    events: Iterable[str] | None,
    description: str,
    allow_private: bool,
) -> WebhookEndpoint:
    url = check_url(url)
    chosen = parse_events(events)
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidWebhook(f"a description has at most {MAX_DESCRIPTION} characters")
    await check_destination(url, allow_private=allow_private)
    mine = await list_endpoints(session, owner_id)
    if len(mine) >= MAX_ENDPOINTS_PER_USER:
        raise InvalidWebhook(f"a user can have at most {MAX_ENDPOINTS_PER_USER} endpoints")
    endpoint = WebhookEndpoint(
        id=new_id(),
        owner_id=owner_id,
        url=url,
        events=" ".join(chosen),
        description=description,
        secret=new_secret(),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def list_endpoints(session: AsyncSession, owner_id: str | None) -> Sequence[WebhookEndpoint]:
    """The user's endpoints, oldest first (every user's with ``owner_id`` None)."""
    stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    if owner_id is not None:
        stmt = stmt.where(WebhookEndpoint.owner_id == owner_id)
    return (await session.execute(stmt)).scalars().all()


async def get_endpoint(
    session: AsyncSession, endpoint_id: str, *, user_id: str, as_admin: bool
) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id) if is_valid_id(endpoint_id) else None
    if endpoint is None or (endpoint.owner_id != user_id and not as_admin):
        raise WebhookNotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


async def delete_endpoint(
    session: AsyncSession, endpoint_id: str, *, user_id: str, as_admin: bool
) -> None:
    """Remove the endpoint and its pending and past deliveries."""
    endpoint = await get_endpoint(session, endpoint_id, user_id=user_id, as_admin=as_admin)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    await session.delete(endpoint)
    await session.flush()


async def list_deliveries(
    session: AsyncSession, endpoint_id: str, *, limit: int = 50
) -> Sequence[tuple[WebhookDelivery, str]]:
    """The endpoint's newest deliveries with their event types."""
    stmt = (
        select(WebhookDelivery, WebhookEvent.type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [(d, str(t)) for d, t in (await session.execute(stmt)).all()]
