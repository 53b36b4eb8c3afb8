"""Automatic PostgreSQL failover in the local cluster's HA pair (etcd + two Patroni nodes).

No reelstream roles: a numbered writer (the failover benchmark's) inserts through the
multi-host writer URL while the primary is crashed or its Patroni is killed or frozen. The
other node must be promoted by itself, writes must succeed again through the same URL, no
acknowledged row may be lost (synchronous replication), the old node must come back as a
replica, and a primary whose Patroni is gone must be fenced by the watchdog (its postgres
killed) rather than left accepting writes next to the new primary. One pair serves the
module; nothing may run after it stops.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.failover import DATABASE, TABLE, NumberedWriter, stored_numbers

from reelstream.devcluster.etcd import find_etcd
from reelstream.devcluster.ha import HaPostgres
from reelstream.devcluster.patroni import PatroniNode, find_patroni
from reelstream.devcluster.postgres import pg_available
from reelstream.devcluster.process import alive, process_tree
from tests.support import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def ha() -> Iterator[HaPostgres]:
    require(pg_available(), "PostgreSQL 15")
    require(find_patroni() is not None, "patroni")
    require(find_etcd() is not None, "etcd (etcd-server)")
    root = Path(tempfile.mkdtemp(prefix="reelstream-ha-", dir="/tmp"))
    root.chmod(0o755)  # PostgreSQL runs as the postgres user: it must reach its data below
    pair = HaPostgres(root, root / "logs", "sync")
    pids: set[int] = set()
    try:
        pair.start()
        pair.ensure_database(DATABASE)
        pair.psql(pair.wait_primary(), TABLE, DATABASE)
        yield pair
        pids = process_tree(p["pid"] for p in pair.processes(DATABASE))
    finally:
        pair.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert pids and alive(pids) == [], f"left running after stop: {alive(pids)}"


async def _crash_and_write(ha: HaPostgres, crash: str) -> tuple[PatroniNode, NumberedWriter]:
    """Write, do ``crash`` to the primary, wait for writes on the new primary; heal and wait
    until the pair is whole again."""
    old = ha.primary()
    assert old is not None
    writer = NumberedWriter(ha.writer_url(DATABASE), start_at=int(time.time() * 1000))
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop))
    try:
        while len(writer.acked) < 50:
            await asyncio.sleep(0.05)
        if crash == "postgres":
            old.kill("postgres")
        elif crash == "patroni-kill":
            old.kill("patroni")
        else:
            assert old.pid is not None
            os.kill(old.pid, signal.SIGSTOP)
        await asyncio.to_thread(ha.wait_primary, 120, old)
        writer.mark(time.monotonic())  # from here on, acknowledged by the new primary
        await asyncio.wait_for(writer.recovered.wait(), 120)
        count = len(writer.acked)
        while len(writer.acked) < count + 20:  # keeps writing on the new primary
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    return old, writer


def _rejoin(ha: HaPostgres, old: PatroniNode) -> None:
    deadline = time.monotonic() + 180
    while not ha.healthy() and time.monotonic() < deadline:
        ha.heal()
        time.sleep(0.5)
    assert ha.healthy(), ha.roles()
    assert old.role() == "replica", ha.roles()


def test_a_crashed_primary_fails_over_without_losing_acknowledged_writes(ha: HaPostgres) -> None:
    old, writer = asyncio.run(_crash_and_write(ha, "postgres"))
    new = ha.primary()
    assert new is not None and new is not old
    assert set(writer.acked) <= stored_numbers(ha)  # sync: every acknowledged row survived
    _rejoin(ha, old)


@pytest.mark.parametrize("crash", ["patroni-kill", "patroni-stop"])
def test_a_primary_whose_patroni_died_or_froze_is_fenced_and_replaced(
    ha: HaPostgres, crash: str
) -> None:
    """No /dev/watchdog here: the emulated one must kill the orphaned postgres before the
    leader lock expires, so two primaries never accept writes at once."""
    ha.watchdog.news()
    old = ha.primary()
    assert old is not None
    postmaster = old.postmaster_pid()
    assert postmaster is not None
    old_process = old.proc
    old, writer = asyncio.run(_crash_and_write(ha, crash))
    assert alive([postmaster]) == [], "the old primary's postgres still runs (split brain)"
    news = ha.watchdog.news()
    assert any(old.name in line for line in news), news
    assert set(writer.acked) <= stored_numbers(ha)
    assert old_process is not None and old_process.poll() is not None  # the "reboot" took it
    _rejoin(ha, old)
