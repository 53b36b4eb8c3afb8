"""The webhook API: ``/api/v1/webhooks``.

A signed-in user manages their own endpoints (``write`` scope to create or delete, ``read`` to
list and to read deliveries). Another user's endpoint is a 404. An admin (acting as one) may
list every endpoint with ``?all=1`` and read or delete any.

Rate limits (docs/limits.md): ``reads`` per client IP for GET, ``writes`` per account for
creating and deleting.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from reelstream.auth.deps import ReadUser, WriteUser
from reelstream.auth.errors import Forbidden
from reelstream.db.models import WebhookDelivery, WebhookEndpoint
from reelstream.http.deps import ServicesDep
from reelstream.ratelimit.deps import limit_api
from reelstream.webhooks import endpoints as service
from reelstream.webhooks.events import EVENT_TYPES

router = APIRouter(prefix="/api/v1", tags=["webhooks"], dependencies=[Depends(limit_api)])

_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such endpoint (or another user's)"},
    422: {"description": "Invalid URL, event type or description"},
}


class EndpointIn(BaseModel):
    url: str = Field(max_length=2000, description="http(s) URL that receives the POSTs")
    events: list[str] | None = Field(
        default=None, description=f"Subset of {', '.join(EVENT_TYPES)}; default: all"
    )
    description: str = Field(default="", max_length=300)


class EndpointOut(BaseModel):
    id: str
    owner_id: str
    url: str
    events: list[str]
    description: str
    created_at: dt.datetime
    secret: str | None = Field(
        default=None, description="The signing secret: returned once, when the endpoint is made"
    )


class EndpointList(BaseModel):
    items: list[EndpointOut]


class DeliveryOut(BaseModel):
    id: int
    event_id: str = Field(description="The idempotency id (Webhook-Id), stable across retries")
    type: str
    state: str = Field(description="pending, sending, delivered or failed")
    attempts: int
    last_status: int | None = Field(description="HTTP status of the last attempt, if any")
    last_error: str | None
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None = Field(description="null once delivered or failed")
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


def endpoint_out(e: WebhookEndpoint, *, secret: bool = False) -> EndpointOut:
    return EndpointOut(
        id=e.id,
        owner_id=e.owner_id,
        url=e.url,
        events=e.events.split(),
        description=e.description,
        created_at=e.created_at,
        secret=e.secret if secret else None,
    )


def delivery_out(d: WebhookDelivery, event_type: str) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        event_id=d.event_id,
        type=event_type,
        state=d.state,
        attempts=d.attempts,
        last_status=d.last_status,
        last_error=d.last_error,
        last_attempt_at=d.last_attempt_at,
        next_attempt_at=d.next_attempt_at if d.state in ("pending", "sending") else None,
        delivered_at=d.delivered_at,
        created_at=d.created_at,
    )


@router.post(
    "/webhooks", status_code=201, response_model=EndpointOut, responses={422: _ERRORS[422]}
)
async def create_webhook(body: EndpointIn, services: ServicesDep, user: WriteUser) -> EndpointOut:
    """Register an endpoint. The response carries its signing secret, shown only this once."""
    async with services.db.transaction() as s:
        endpoint = await service.create_endpoint(
            s,
            user.id,
            url=body.url,
            events=body.events,
            description=body.description,
            allow_private=services.settings.allow_private_webhooks,
        )
        return endpoint_out(endpoint, secret=True)


@router.get("/webhooks", response_model=EndpointList)
async def list_webhooks(
    services: ServicesDep,
    user: ReadUser,
    all_users: bool = Query(default=False, alias="all", description="Every user's (admins)"),
) -> EndpointList:
    if all_users and not user.acts_as_admin:
        raise Forbidden("only admins can list every user's webhook endpoints")
    async with services.db.read(primary=True) as s:
        rows = await service.list_endpoints(s, None if all_users else user.id)
        return EndpointList(items=[endpoint_out(e) for e in rows])


@router.get("/webhooks/{endpoint_id}", response_model=EndpointOut, responses={404: _ERRORS[404]})
async def get_webhook(endpoint_id: str, services: ServicesDep, user: ReadUser) -> EndpointOut:
    async with services.db.read(primary=True) as s:
        endpoint = await service.get_endpoint(
            s, endpoint_id, user_id=user.id, as_admin=user.acts_as_admin
        )
        return endpoint_out(endpoint)


@router.delete(
    "/webhooks/{endpoint_id}",
    status_code=204,
    response_class=Response,
    responses={404: _ERRORS[404]},
)
async def delete_webhook(endpoint_id: str, services: ServicesDep, user: WriteUser) -> Response:
    """Remove the endpoint; its pending deliveries are dropped."""
    async with services.db.transaction() as s:
        await service.delete_endpoint(s, endpoint_id, user_id=user.id, as_admin=user.acts_as_admin)
    return Response(status_code=204)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    response_model=DeliveryList,
    responses={404: _ERRORS[404]},
)
async def list_webhook_deliveries(
    endpoint_id: str,
    services: ServicesDep,
    user: ReadUser,
    limit: int = Query(default=50, ge=1, le=200),
) -> DeliveryList:
    """The endpoint's newest deliveries: attempts, last status or error, next attempt."""
    async with services.db.read(primary=True) as s:
        endpoint = await service.get_endpoint(
            s, endpoint_id, user_id=user.id, as_admin=user.acts_as_admin
        )
        rows = await service.list_deliveries(s, endpoint.id, limit=limit)
        return DeliveryList(items=[delivery_out(d, t) for d, t in rows])
