"""Shared by the cache tests: a ready video as the pipeline leaves it, a query counter, and
running async code in a ``TestClient``'s event loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.engine import Engine

from reelstream.db import Database
from reelstream.db.models import Job
from reelstream.services import Services
from tests.videos.factories import create_video, publish_fake, queue_video

T = TypeVar("T")


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def run(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run an async function in the app's event loop."""
    assert client.portal is not None
    return client.portal.call(partial(fn, *args))


async def make_ready(services: Services, title: str = "clip") -> str:
    """Uploaded, transcoded, published, its job succeeded: a final video."""
    vid = await create_video(services, title)
    await queue_video(services, vid)
    await publish_fake(services, vid)
    async with services.db.transaction() as s:
        await s.execute(update(Job).where(Job.video_id == vid).values(state="succeeded"))
    return vid


class QueryCounter:
    """Counts the SQL statements sent to a database (reader and writer engines)."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        engines = {id(e): e for e in (db.reader, db.writer)}.values()
        self._engines: list[Engine] = [e.sync_engine for e in engines]
        for engine in self._engines:
            event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._seen)
