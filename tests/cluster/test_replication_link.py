"""The HA pair's replication link through a proxy (``HaPostgres(replication_link=...)``), and
what a lagging link does to acknowledged writes when the primary's machine dies.

One pair (etcd + two Patroni nodes) whose ``connect_address`` ports are ``DelayLine``
proxies: the standby's walreceiver must stream from the primary's proxy, not its own port.
With a one-way delay on the link and the primary crashed together with its link (the bytes
in flight dropped), asynchronous replication loses acknowledged rows, synchronous loses none.
The delay is large (``DELAY_S``) so that a loss is certain, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.chaos.delayline import LinkHub
from benchmarks.failover import DATABASE, TABLE, one_failover, receiver_port

from reelstream.devcluster.etcd import find_etcd
from reelstream.devcluster.ha import HaPostgres
from reelstream.devcluster.patroni import find_patroni
from reelstream.devcluster.postgres import pg_available
from tests.support import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
DELAY_S = 0.05


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[HaPostgres, LinkHub]]:
    require(pg_available(), "PostgreSQL 15")
    require(find_patroni() is not None, "patroni")
    require(find_etcd() is not None, "etcd (etcd-server)")
    root = Path(tempfile.mkdtemp(prefix="reelstream-link-", dir="/tmp"))
    root.chmod(0o755)  # PostgreSQL runs as the postgres user: it must reach its data below
    links = LinkHub()
    ha = HaPostgres(root, root / "logs", "async", replication_link=links.interpose)
    try:
        ha.start()
        ha.ensure_database(DATABASE)
        ha.psql(ha.wait_primary(), TABLE, DATABASE)
        yield ha, links
    finally:
        ha.stop()
        links.close()
        shutil.rmtree(root, ignore_errors=True)


def test_the_standby_streams_through_the_proxy(pair: tuple[HaPostgres, LinkHub]) -> None:
    ha, links = pair
    primary = ha.primary()
    assert primary is not None and primary.connect_port is not None
    assert primary.connect_port == links.proxies[f"replication-{primary.name}"].port
    assert primary.connect_port != primary.port
    assert receiver_port(ha) == primary.connect_port
    assert links.proxies[f"replication-{primary.name}"].connections >= 1


def test_async_loses_what_the_lagging_link_held_sync_loses_nothing(
    pair: tuple[HaPostgres, LinkHub],
) -> None:
    ha, links = pair
    links.set("latency", delay_s=DELAY_S)
    lossy = asyncio.run(one_failover(ha, "postgres", 1.5, 1, writers=2, links=links, cut=True))
    assert lossy["failover_s"] is not None
    assert lossy["lost"] > 0, lossy
    assert lossy["loss_window_ms"] > 0
    assert lossy["lag_at_crash"]["unflushed_bytes"] > 0

    ha.set_replication("sync")
    safe = asyncio.run(
        one_failover(ha, "postgres", 1.5, lossy["next"], writers=2, links=links, cut=True)
    )
    assert safe["failover_s"] is not None
    assert safe["acked"] > 0
    assert safe["lost"] == 0, safe
    assert receiver_port(ha) == links.proxies[f"replication-{safe['new_primary']}"].port
