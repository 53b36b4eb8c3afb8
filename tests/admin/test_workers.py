"""The workers registry with a real ``WorkerPool``, on SQLite and on PostgreSQL: register on
start, beat with the busy slots, mark stopped on stop, survive a database outage, prune."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import delete, update

from reelstream import worker as worker_module
from reelstream.db.base import utcnow
from reelstream.db.errors import DatabaseUnavailable
from reelstream.db.models import Worker
from reelstream.queue import workers as registry
from reelstream.queue.jobs import Lease
from reelstream.services import Services
from reelstream.worker import WorkerPool
from tests.admin.conftest import add_worker
from tests.videos.factories import create_video, queue_video


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services


async def row(services: Services, worker_id: str) -> Worker | None:
    async with services.db.read(primary=True) as s:
        return await s.get(Worker, worker_id)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_pool_registers_beats_its_busy_slots_and_marks_itself_stopped(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    claimed: list[Lease] = []

    async def slow_job(_: Services, lease: Lease) -> str:  # stands in for a transcode
        claimed.append(lease)
        await release.wait()
        return "succeeded"

    monkeypatch.setattr(worker_module, "run_job", slow_job)
    pool = WorkerPool(services, concurrency=2)
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    assert pool.worker_id == worker_id
    await pool.start()
    try:
        first = await row(services, worker_id)
        assert first is not None, "start() did not register the pool"
        assert (first.host, first.pid, first.slots, first.running) == (
            socket.gethostname(),
            os.getpid(),
            2,
            0,
        )
        assert first.stopped_at is None

        await queue_video(services, await create_video(services, "busy", owner=None))
        await eventually(lambda: asyncio.sleep(0, claimed))

        async def beat_shows_busy() -> Worker | None:
            now = await row(services, worker_id)
            return now if now is not None and now.running == 1 else None

        busy = await eventually(beat_shows_busy)
        assert busy.heartbeat_at > first.heartbeat_at
        listed = await _list(services)
        assert listed[worker_id].state == "running" and not listed[worker_id].stale

        release.set()

        async def idle_again() -> bool:
            now = await row(services, worker_id)
            return now is not None and now.running == 0 and now.heartbeat_at > busy.heartbeat_at

        await eventually(idle_again)
    finally:
        release.set()
        await pool.stop()
    stopped = await row(services, worker_id)
    assert stopped is not None and stopped.stopped_at is not None and stopped.running == 0
    listed = await _list(services)
    assert listed[worker_id].state == "stopped"


async def _list(services: Services) -> dict[str, registry.WorkerInfo]:
    async with services.db.read(primary=True) as s:
        found = await registry.list_workers(s, services.settings.heartbeat_s)
    return {w.id: w for w in found}


async def test_beats_survive_a_database_outage_and_register_again(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_beat = registry.beat
    failures = 2
    calls = 0

    async def flaky_beat(*args: Any, **kwargs: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls <= failures:
            raise DatabaseUnavailable("database primary unavailable: simulated outage")
        return await real_beat(*args, **kwargs)

    monkeypatch.setattr(registry, "beat", flaky_beat)
    caplog.set_level(logging.WARNING, logger="reelstream.worker")
    pool = WorkerPool(services, concurrency=1)
    await pool.start()
    try:
        registered = await row(services, pool.worker_id)
        assert registered is not None
        await eventually(lambda: asyncio.sleep(0, calls > failures))
        assert pool.running
        assert "cannot beat: database primary unavailable: simulated outage" in caplog.text

        async def beat_after_outage() -> bool:
            now = await row(services, pool.worker_id)
            return now is not None and now.heartbeat_at > registered.heartbeat_at

        await eventually(beat_after_outage)

        # the row disappears (pruned by mistake, a restored backup): the next beat re-registers
        async with services.db.transaction() as s:
            await s.execute(delete(Worker).where(Worker.id == pool.worker_id))
        back = await eventually(lambda: row(services, pool.worker_id))
        assert back.stopped_at is None and back.slots == 1
    finally:
        await pool.stop()
    assert (await row(services, pool.worker_id)).stopped_at is not None  # type: ignore[union-attr]


async def test_stale_workers_and_pruning(services: Services) -> None:
    hb = services.settings.heartbeat_s
    await add_worker(services, "fresh:1", heartbeat_age_s=hb)
    await add_worker(services, "silent:2", heartbeat_age_s=3 * hb + 2)
    await add_worker(services, "stopped:3", heartbeat_age_s=3600, stopped_age_s=3600)
    await add_worker(services, "oldstop:4", heartbeat_age_s=90_000, stopped_age_s=90_000)
    await add_worker(services, "dead:5", heartbeat_age_s=90_000)
    listed = await _list(services)
    assert {k: (w.state, w.stale) for k, w in listed.items()} == {
        "fresh:1": ("running", False),
        "silent:2": ("stale", True),
        "stopped:3": ("stopped", False),
        "oldstop:4": ("stopped", False),
        "dead:5": ("stale", True),
    }
    assert listed["silent:2"].seconds_since_heartbeat >= 3 * hb + 2

    # registering (a pool starting) prunes what stopped or went silent more than a day ago
    await registry.register(services.db, "new:6", slots=4)
    assert set(await _list(services)) == {"fresh:1", "silent:2", "stopped:3", "new:6"}

    # registering again resets a stopped row
    await registry.mark_stopped(services.db, "new:6")
    assert (await _list(services))["new:6"].state == "stopped"
    before = utcnow() - dt.timedelta(seconds=1)
    await registry.register(services.db, "new:6", slots=3)
    again = (await _list(services))["new:6"]
    assert again.state == "running" and again.slots == 3 and again.started_at > before
    assert await registry.beat(services.db, "new:6", running=2)
    assert (await _list(services))["new:6"].running == 2
    assert not await registry.beat(services.db, "never:7", running=0)  # no row: register


async def test_stop_lets_a_beat_finish_its_transaction_and_marks_the_pool_stopped(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling a side loop inside a transaction could leave SQLite's write lock held, and
    the "stopped" write would then wait out the busy timeout (issue 9, 7f): stop() lets the
    pass finish instead."""
    inside = asyncio.Event()
    finished: list[bool] = []

    async def slow_beat(db: Any, worker_id: str, *, running: int) -> bool:
        async with db.transaction() as s:
            await s.execute(update(Worker).where(Worker.id == worker_id).values(running=running))
            inside.set()
            await asyncio.sleep(0.5)  # stop() arrives while the transaction is open
        finished.append(True)
        return True

    monkeypatch.setattr(registry, "beat", slow_beat)
    pool = WorkerPool(services, concurrency=1)
    await pool.start()
    try:
        await asyncio.wait_for(inside.wait(), 15)
    finally:
        started = time.monotonic()
        await pool.stop()
    assert time.monotonic() - started < 5
    assert finished == [True], "the beat was cancelled inside its transaction"
    stopped = await row(services, pool.worker_id)
    assert stopped is not None and stopped.stopped_at is not None
