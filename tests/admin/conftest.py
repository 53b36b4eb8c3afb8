"""Fixtures of the admin tests: the app with an owner, another user and an admin, and helpers
that put jobs and workers in the database the way the pipeline and the pool would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from reelstream.db.base import utcnow
from reelstream.db.models import Job, Worker
from reelstream.services import Services
from reelstream.videos import repository as repo
from tests.support import bearer, create_account, post_form
from tests.videos.factories import create_video, queue_video

TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Admin:
    """The app (``client``: the owner's token), an anonymous client, and tokens by role."""

    client: TestClient
    anon: TestClient
    services: Services
    tokens: dict[str, str]

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        assert self.client.portal is not None
        return self.client.portal.call(lambda: fn(*args, **kwargs))

    def headers(self, role: str) -> dict[str, str]:
        """``owner``, ``user`` (plain, write), ``half`` (an admin's write-only token) or
        ``admin`` (an admin's ``admin``-scope token); anything else: no credential."""
        return bearer(self.tokens[role]) if role in self.tokens else {}

    def as_admin(self, method: str, path: str, **kw: Any) -> Any:
        return self.anon.request(method, path, headers=self.headers("admin"), **kw)


@pytest.fixture
def admin(client: TestClient, anon: TestClient) -> Admin:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    tokens = {
        "owner": client.app.state.owner_token,  # type: ignore[attr-defined]
        "user": create_account(client, "someone"),
        "half": create_account(client, "halfadmin", admin=True, scopes=("write",)),
        "admin": create_account(client, "boss", admin=True, scopes=("admin",)),
    }
    return Admin(client, anon, services, tokens)


async def failed_transcode(
    services: Services, title: str = "broken", *, owner: str | None = "owner"
) -> tuple[str, int]:
    """A video whose transcode failed for good: (video id, job id)."""
    vid = await create_video(services, title, owner=owner)
    await queue_video(services, vid)
    async with services.db.transaction() as s:
        job = (await s.execute(select(Job).where(Job.video_id == vid))).scalar_one()
        job.state, job.attempts, job.finished_at = "failed", job.max_attempts, utcnow()
        job.last_error = "ffmpeg exited with code 1: boom"
        await repo.mark_failed(s, vid, "transcoding failed: boom")
        return vid, job.id


async def queued_transcode(
    services: Services, title: str = "waiting", *, owner: str | None = "owner"
) -> tuple[str, int]:
    """A video with a queued transcode job: (video id, job id)."""
    vid = await create_video(services, title, owner=owner)
    await queue_video(services, vid)
    async with services.db.read(primary=True) as s:
        job_id = (await s.execute(select(Job.id).where(Job.video_id == vid))).scalar_one()
    return vid, job_id


async def add_worker(
    services: Services,
    worker_id: str,
    *,
    heartbeat_age_s: float = 0,
    stopped_age_s: float | None = None,
    slots: int = 2,
    running: int = 0,
) -> None:
    """A row of the workers registry, as a pool on another machine would have left it."""
    now = utcnow()
    host, _, pid = worker_id.rpartition(":")
    async with services.db.transaction() as s:
        s.add(
            Worker(
                id=worker_id,
                host=host,
                pid=int(pid),
                slots=slots,
                running=running,
                started_at=now - dt.timedelta(seconds=heartbeat_age_s + 60),
                heartbeat_at=now - dt.timedelta(seconds=heartbeat_age_s),
                stopped_at=None
                if stopped_age_s is None
                else now - dt.timedelta(seconds=stopped_age_s),
            )
        )


async def set_job(services: Services, job_id: int, **values: Any) -> None:
    async with services.db.transaction() as s:
        await s.execute(update(Job).where(Job.id == job_id).values(**values))


def create_upload(c: TestClient, length: int, headers: dict[str, str] | None = None) -> Any:
    """tus creation of an upload of ``length`` bytes (nothing sent yet)."""
    return c.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": "filename YS5tcDQ=",
            **(headers or {}),
        },
    )


@pytest.fixture
def session_client(admin: Admin) -> Callable[[str], TestClient]:
    """Cookie-keeping clients of the same app, each signed in (through /login) as a new user
    (``"boss2"`` style names; an admin when the name starts with ``admin``)."""

    def make(username: str) -> TestClient:
        password = "correct horse battery"
        create_account(
            admin.client, username, admin=username.startswith("admin"), password=password
        )
        c = TestClient(admin.client.app)
        c.portal = admin.client.portal
        r = post_form(
            c,
            "/login",
            {"username": username, "password": password},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return c

    return make
