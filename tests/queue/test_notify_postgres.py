"""LISTEN/NOTIFY wake-ups between processes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.queue.notify import Notifier, create_notifier
from reelstream.queue.notify.postgres import PgNotifier
from reelstream.services import Services, build_services
from reelstream.videos import repository as videos
from tests.fixtures.postgres import PgCluster, PgServer

POLL_S = 5.0  # a wake-up must arrive well before the workers' next poll


async def _drain(notifier: Notifier) -> None:
    while await notifier.wait(0.05):
        pass


async def _until(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _new_video(session: AsyncSession) -> str:
    video = await videos.create_video(session, title="t", filename="t.mp4")
    await videos.mark_uploaded(session, video, source_key="videos/x/source", source_bytes=1)
    return video.id


async def _wakes(sender: Notifier, receiver: Notifier) -> float:
    """notify() on one side; seconds until wait() returns on the other."""
    await _drain(receiver)
    started = time.monotonic()
    sender.notify()
    assert await receiver.wait(POLL_S), "no wake-up before the poll interval"
    return time.monotonic() - started


@pytest.fixture
async def pair(settings: Settings, pg_url: str) -> AsyncIterator[tuple[Services, Services]]:
    """Two independent Services (as two processes would build them) on one database."""
    cfg = settings.model_copy(update={"database_url": pg_url, "poll_interval_s": POLL_S})
    cfg.prepare()
    await asyncio.to_thread(upgrade, pg_url)
    a, b = build_services(cfg), build_services(cfg)
    for svc in (a, b):
        await svc.start()
    yield a, b
    for svc in (a, b):
        await svc.close()


async def test_postgres_settings_choose_listen_notify(pair: tuple[Services, Services]) -> None:
    a, _ = pair
    assert isinstance(a.notifier, PgNotifier)
    assert isinstance(create_notifier(a.settings), PgNotifier)


async def test_notify_in_one_process_wakes_the_other(pair: tuple[Services, Services]) -> None:
    a, b = pair
    na, nb = a.notifier, b.notifier
    assert isinstance(na, PgNotifier) and isinstance(nb, PgNotifier)
    await _until(lambda: na.listening and nb.listening)
    for _ in range(3):
        assert await _wakes(a.notifier, b.notifier) < 1.0
        assert await _wakes(b.notifier, a.notifier) < 1.0
    # Without a notification nobody wakes up.
    await _drain(b.notifier)
    assert not await b.notifier.wait(0.3)


async def test_a_job_committed_in_one_process_wakes_the_other(
    pair: tuple[Services, Services],
) -> None:
    a, b = pair
    await _until(lambda: a.notifier.listening and b.notifier.listening)  # type: ignore[attr-defined]
    await _drain(b.notifier)
    with pytest.raises(RuntimeError):
        async with a.db.transaction() as s:
            await a.queue.enqueue(s, await _new_video(s))
            raise RuntimeError("abort")
    assert not await b.notifier.wait(0.3)  # rolled back: nobody is woken
    started = time.monotonic()
    async with a.db.transaction() as s:
        await a.queue.enqueue(s, await _new_video(s))
    assert await b.notifier.wait(POLL_S), "no wake-up before the poll interval"
    assert time.monotonic() - started < 1.0


async def test_the_listener_reconnects_after_its_connection_is_killed(
    pair: tuple[Services, Services], pg_primary: PgServer
) -> None:
    a, b = pair
    nb = b.notifier
    assert isinstance(nb, PgNotifier)
    await _until(lambda: nb.listening)
    old_pid = nb.server_pid
    assert old_pid is not None
    assert pg_primary.psql(f"SELECT pg_terminate_backend({old_pid})") == "t"
    await _until(lambda: nb.server_pid not in (None, old_pid))
    assert await _wakes(a.notifier, b.notifier) < 1.0


async def test_a_burst_of_notifies_coalesces_and_never_raises(
    pair: tuple[Services, Services],
) -> None:
    a, b = pair
    await _until(lambda: a.notifier.listening and b.notifier.listening)  # type: ignore[attr-defined]
    await _drain(b.notifier)
    for _ in range(200):
        a.notifier.notify()
    assert await b.notifier.wait(POLL_S)


async def test_the_listener_follows_the_primary_through_restart(
    pg_cluster_factory: Callable[..., PgCluster], settings: Settings
) -> None:
    cluster = pg_cluster_factory(standby=False)
    url = cluster.primary.url(cluster.create_database())
    sender, receiver = PgNotifier(url), PgNotifier(url, backoff_max_s=0.5)
    try:
        for n in (sender, receiver):
            await n.start()
        await _until(lambda: sender.listening and receiver.listening)
        await asyncio.to_thread(cluster.primary.stop)
        await _until(lambda: not receiver.listening)
        sender.notify()  # nobody to tell: dropped quietly, local wake-up still happens
        assert await sender.wait(0.5)
        await asyncio.to_thread(cluster.primary.start)
        await _until(lambda: sender.listening and receiver.listening)
        assert await _wakes(sender, receiver) < 1.0
    finally:
        for n in (sender, receiver):
            await n.close()
    assert not receiver.listening
