"""Helpers of the webhook tests: users, endpoints and videos made through the services, and a
dispatcher pump."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from reelstream.auth.accounts import create_user
from reelstream.db.models import WebhookDelivery
from reelstream.services import Services
from reelstream.videos import repository as repo
from reelstream.webhooks.dispatcher import Dispatcher
from reelstream.webhooks.endpoints import create_endpoint


async def user_with_endpoint(
    services: Services, username: str, url: str, events: list[str] | None = None
) -> tuple[str, str, str]:
    """A new user with one endpoint: (user id, endpoint id, secret)."""
    async with services.db.transaction() as s:
        user = await create_user(s, username, None)
        endpoint = await create_endpoint(
            s, user.id, url=url, events=events, description="", allow_private=True
        )
        return user.id, endpoint.id, endpoint.secret


async def new_video(services: Services, owner_id: str | None, title: str = "clip") -> str:
    async with services.db.transaction() as s:
        video = await repo.create_video(s, title=title, filename="clip.mp4", owner_id=owner_id)
        return video.id


async def deliveries_in(services: Services, *states: str) -> int:
    async with services.db.read(primary=True) as s:
        stmt = select(func.count()).select_from(WebhookDelivery)
        if states:
            stmt = stmt.where(WebhookDelivery.state.in_(states))
        return int((await s.execute(stmt)).scalar_one())


async def pump(
    services: Services,
    until: Callable[[], bool],
    *,
    owner: str = "test-dispatcher",
    timeout: float = 60,
) -> None:
    """Run dispatcher passes until ``until()`` holds."""
    dispatcher = Dispatcher(services, owner)
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False) as client:
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError("the dispatcher did not get there in time")
            if not await dispatcher.run_once(client):
                await asyncio.sleep(0.05)
