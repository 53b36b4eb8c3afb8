"""The database layer against real servers: exclusive claims under concurrency, fail-fast
outages translated to ``DatabaseUnavailable``, recovery without restart, replica routing."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from reelstream.db import Database
from reelstream.db.database import PgConnector, normalize_url
from reelstream.db.errors import DatabaseUnavailable
from reelstream.db.migrate import upgrade
from reelstream.db.models import Job, Video
from reelstream.queue import JobQueue, RetryPolicy
from reelstream.services import Services
from reelstream.videos import repository as repo
from tests.fixtures.postgres import PgCluster, PgUrls


def test_multi_host_urls_are_understood_in_both_spellings() -> None:
    libpq = "postgresql+asyncpg://u:p%40ss@h1:5432,h2:5433/db?target_session_attrs=read-write"
    sqla = normalize_url(libpq)
    assert sqla == (
        "postgresql+asyncpg://u:p%40ss@/db?host=h1%3A5432&host=h2%3A5433"
        "&target_session_attrs=read-write"
    )
    for url in (libpq, sqla):
        connector = PgConnector(url, timeout_s=3, command_timeout_s=None)
        assert connector.hosts == [("h1", 5432), ("h2", 5433)]
        assert connector.target == "read-write"
        assert connector.options == {"user": "u", "password": "p@ss", "database": "db"}
        assert connector.describe() == "h1:5432,h2:5433/db"
    single = PgConnector("postgresql+asyncpg://u@h:6000/d", timeout_s=3, command_timeout_s=None)
    assert single.hosts == [("h", 6000)] and not single.multi_host and single.target is None
    plain = "postgresql+asyncpg://u@h:6000/d"
    assert normalize_url(plain) == plain
    assert normalize_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


async def test_many_claimers_on_separate_connections_never_share_a_job(
    services: Services,
) -> None:
    """40 jobs, 8 claimers each with its own engine (own connections), claiming as fast as
    they can: every job is claimed exactly once (FOR UPDATE SKIP LOCKED on PostgreSQL,
    BEGIN IMMEDIATE on SQLite)."""
    n_jobs = 40
    async with services.db.transaction() as s:
        for n in range(n_jobs):
            video = await repo.create_video(s, title=f"v{n}", filename="v.mp4")
            await services.queue.enqueue(s, video.id)
    settings = services.settings
    claimers = [
        Database(settings.resolved_database_url, pool_size=2, timeout_s=30) for _ in range(8)
    ]
    claimed: list[tuple[int, str]] = []

    async def claimer(n: int, db: Database) -> None:
        queue = JobQueue(db, RetryPolicy(max_attempts=3, base_s=1, max_s=1), lease_s=60)
        empty = 0
        while empty < 3:
            async with db.transaction() as s:
                lease = await queue.claim(s, f"w{n}")
            if lease is None:
                empty += 1
                continue
            claimed.append((lease.job_id, lease.owner))
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(claimer(n, db) for n, db in enumerate(claimers)))
    finally:
        for db in claimers:
            await db.dispose()
    per_job = Counter(job_id for job_id, _ in claimed)
    assert len(per_job) == n_jobs
    assert set(per_job.values()) == {1}
    if not services.db.is_sqlite:
        assert len({owner for _, owner in claimed}) > 1  # really concurrent
    async with services.db.read() as s:
        rows = (await s.execute(select(Job.state, Job.attempts))).all()
    assert {(r.state, r.attempts) for r in rows} == {("running", 1)}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung server)."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(64)
        yield srv.getsockname()[1]


async def test_a_hung_server_fails_fast_with_database_unavailable(silent_port: int) -> None:
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port}/x", timeout_s=1)
    try:
        for use in (db.transaction, db.read):
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as info:
                async with use() as s:
                    await s.execute(text("SELECT 1"))
            assert time.monotonic() - started < 3
            assert info.value.code == "database_unavailable"
            assert info.value.headers["Retry-After"].isdigit()
        with pytest.raises(DatabaseUnavailable):
            await db.ping()
    finally:
        await db.dispose()


async def test_a_refused_connection_is_unavailable_at_once() -> None:
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x", timeout_s=5)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            async with db.transaction():
                pass
        assert time.monotonic() - started < 2
    finally:
        await db.dispose()


async def test_domain_and_query_errors_pass_through_untranslated(pg_url: str) -> None:
    await asyncio.to_thread(upgrade, pg_url)
    db = Database(pg_url, timeout_s=5)
    try:
        with pytest.raises(LookupError):
            async with db.transaction():
                raise LookupError("mine")
        with pytest.raises(Exception, match="no_such_table") as info:
            async with db.read() as s:
                await s.execute(text("SELECT * FROM no_such_table"))
        assert not isinstance(info.value, DatabaseUnavailable)
    finally:
        await db.dispose()


async def test_a_statement_past_the_timeout_is_unavailable(pg_url: str) -> None:
    db = Database(pg_url, timeout_s=1)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            async with db.transaction() as s:
                await s.execute(text("SELECT pg_sleep(10)"))
        assert time.monotonic() - started < 4
        async with db.transaction() as s:  # the pool is usable afterwards
            assert (await s.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await db.dispose()


async def test_writes_fail_fast_while_the_primary_is_down_and_resume_when_it_returns(
    pg_cluster_factory: Callable[..., PgCluster],
) -> None:
    cluster = pg_cluster_factory(standby=False)
    url = cluster.primary.url(cluster.create_database())
    await asyncio.to_thread(upgrade, url)
    db = Database(url, timeout_s=2)
    try:
        async with db.transaction() as s:  # fill the pool with a live connection
            vid = (await repo.create_video(s, title="a", filename="a.mp4")).id
        await asyncio.to_thread(cluster.primary.stop)
        for _ in range(3):  # no hang, no driver error, every time
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable):
                async with db.transaction() as s:
                    await repo.get_video(s, vid, for_update=True)
            assert time.monotonic() - started < 3
        with pytest.raises(DatabaseUnavailable):
            await db.ping()
        await asyncio.to_thread(cluster.primary.start)
        async with db.transaction() as s:  # same Database object: no restart needed
            (await repo.get_video(s, vid)).title = "b"
        async with db.read() as s:
            assert (await repo.get_video(s, vid)).title == "b"
        await db.ping()
    finally:
        await db.dispose()


async def test_reads_use_the_replica_and_fall_back_to_the_primary(
    pg_cluster_factory: Callable[..., PgCluster],
) -> None:
    cluster = pg_cluster_factory()
    assert cluster.standby is not None
    name = cluster.create_database()
    primary_url, replica_url = cluster.primary.url(name), cluster.standby.url(name)
    await asyncio.to_thread(upgrade, primary_url)
    # a generous connect timeout: on a busy machine a first connection can take seconds, and
    # a replica that does not answer in time is (rightly) skipped for the primary
    db = Database(primary_url, replica_url, timeout_s=10)
    try:
        # streaming replication is asynchronous: wait (bounded) until the standby has replayed
        # the migration, or a write on it would fail for a missing table, not for read-only
        standby = Database(replica_url, timeout_s=10)
        try:
            deadline = time.monotonic() + 30
            while True:
                async with standby.read() as s:
                    found = (await s.execute(text("SELECT to_regclass('videos')"))).scalar()
                if found is not None:
                    break
                assert time.monotonic() < deadline, "the standby never replayed the migration"
                await asyncio.sleep(0.1)
        finally:
            await standby.dispose()
        async with db.read() as s:
            assert (await s.execute(text("SELECT pg_is_in_recovery()"))).scalar() is True
        async with db.read(primary=True) as s:
            assert (await s.execute(text("SELECT pg_is_in_recovery()"))).scalar() is False
        # A write through the writer pinned to a standby is refused as unavailable.
        on_standby = Database(replica_url, timeout_s=2)
        try:
            with pytest.raises(DatabaseUnavailable):
                async with on_standby.transaction() as s:
                    await repo.create_video(s, title="x", filename="x.mp4")
            with pytest.raises(DatabaseUnavailable, match="standby"):
                await on_standby.ping()
        finally:
            await on_standby.dispose()
        await asyncio.to_thread(cluster.standby.stop)
        async with db.read() as s:  # the replica is down: the primary serves the read
            assert (await s.execute(text("SELECT pg_is_in_recovery()"))).scalar() is False
        await db.ping()
    finally:
        await db.dispose()


async def test_a_prefer_standby_url_reads_from_the_standby_and_falls_back_to_the_primary(
    pg_cluster_factory: Callable[..., PgCluster],
) -> None:
    """The replica URL of an HA pair names both nodes: the standby is chosen wherever it is
    in the list, and the primary when no standby answers (after a failover)."""
    cluster = pg_cluster_factory()
    assert cluster.standby is not None
    name = cluster.create_database()
    hosts = f"127.0.0.1:{cluster.primary.port},127.0.0.1:{cluster.standby.port}"
    url = f"postgresql+asyncpg://postgres@{hosts}/{name}?target_session_attrs=prefer-standby"
    connector = PgConnector(url, timeout_s=2, command_timeout_s=None)
    for _ in range(2):
        conn = await connector.connect()
        try:
            assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
        finally:
            await conn.close()
    await asyncio.to_thread(cluster.standby.stop)
    conn = await connector.connect()
    try:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
    finally:
        await conn.close()


async def test_a_multi_host_writer_follows_a_promoted_standby(
    pg_cluster_factory: Callable[..., PgCluster],
) -> None:
    cluster = pg_cluster_factory()
    assert cluster.standby is not None
    name = cluster.create_database()
    await asyncio.to_thread(upgrade, cluster.primary.url(name))
    # The libpq spelling, as an operator would write it in REELSTREAM_DATABASE_URL.
    db = Database(cluster.multi_host_url(name), timeout_s=2)
    try:
        async with db.transaction() as s:
            await repo.create_video(s, title="before", filename="a.mp4")
        await asyncio.to_thread(cluster.wait_replayed)
        await asyncio.to_thread(cluster.primary.stop)
        with pytest.raises(DatabaseUnavailable):  # only a read-only standby is left
            async with db.transaction() as s:
                await repo.create_video(s, title="lost", filename="a.mp4")
        await asyncio.to_thread(cluster.standby.promote)
        async with db.transaction() as s:
            await repo.create_video(s, title="after", filename="a.mp4")
        async with db.read() as s:
            titles = set((await s.execute(select(Video.title))).scalars())
        assert titles == {"before", "after"}
    finally:
        await db.dispose()


async def test_a_hung_host_in_a_multi_host_url_costs_one_timeout_then_is_skipped(
    silent_port: int, pg_url: str
) -> None:
    """asyncpg alone would spend its single connect timeout on the hung first host and never
    try the second; each host gets its own timeout, and the host that worked is tried first
    from then on."""
    real = make_url(pg_url)
    url = (
        f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port},{real.host}:{real.port}"
        f"/{real.database}?target_session_attrs=read-write"
    )
    connector = PgConnector(url, timeout_s=1, command_timeout_s=None)
    started = time.monotonic()
    conn = await connector.connect()
    first = time.monotonic() - started
    await conn.close()
    started = time.monotonic()
    conn = await connector.connect()
    second = time.monotonic() - started
    await conn.close()
    assert 0.9 < first < 3
    assert second < 0.5

    db = Database(url, timeout_s=1)
    try:
        async with db.transaction() as s:
            assert (await s.execute(text("SELECT pg_is_in_recovery()"))).scalar() is False
    finally:
        await db.dispose()


async def test_failover_from_a_frozen_primary_costs_at_most_one_failed_write(
    pg_cluster_factory: Callable[..., PgCluster],
) -> None:
    """The old primary hangs (SIGSTOP) instead of going away: pooled connections to it are
    replaced together after the first failure, and the hung host is skipped after one connect
    timeout, so writes move to the promoted standby within a few timeouts."""
    cluster = pg_cluster_factory()
    assert cluster.standby is not None
    name = cluster.create_database()
    db = Database(cluster.multi_host_url(name), timeout_s=1, pool_size=4)

    async def hold() -> None:
        async with db.transaction() as s:
            await s.execute(text("SELECT 1"))
            await asyncio.sleep(0.2)

    try:
        await asyncio.gather(*(hold() for _ in range(4)))  # four pooled connections
        await asyncio.to_thread(cluster.primary.freeze)
        await asyncio.to_thread(cluster.standby.promote)
        promoted = time.monotonic()
        outcomes: list[str] = []
        while len(outcomes) < 8:
            try:
                async with db.transaction() as s:
                    await s.execute(text("CREATE TABLE IF NOT EXISTS t (x int)"))
                    port = (await s.execute(text("SELECT inet_server_port()"))).scalar()
                outcomes.append(f"ok:{port}")
            except DatabaseUnavailable:
                outcomes.append("unavailable")
            assert time.monotonic() - promoted < 15
        first_ok = outcomes.index(f"ok:{cluster.standby.port}")
        assert first_ok <= 1, outcomes
        assert outcomes[first_ok:] == [f"ok:{cluster.standby.port}"] * (8 - first_ok)
        assert time.monotonic() - promoted < 5
    finally:
        await db.dispose()
        await asyncio.to_thread(cluster.primary.thaw)


async def test_session_replica_streams_a_fresh_database(pg_urls: PgUrls) -> None:
    await asyncio.to_thread(upgrade, pg_urls.primary)
    db = Database(pg_urls.primary, pg_urls.replica, timeout_s=5)
    try:
        async with db.transaction() as s:
            vid = (await repo.create_video(s, title="streamed", filename="s.mp4")).id
        await asyncio.to_thread(pg_urls.wait_replayed)
        async with db.read() as s:
            assert (await s.execute(text("SELECT pg_is_in_recovery()"))).scalar() is True
            assert (await repo.get_video(s, vid)).title == "streamed"
    finally:
        await db.dispose()
