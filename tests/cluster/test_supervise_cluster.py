"""``cluster up``'s supervision on the real local cluster (in this process, the smallest one):
an api role, Redis and the edge killed with SIGKILL come back on the same port, and
cluster.json names their new pids."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from reelstream.devcluster.cluster import ClusterSpec, LocalCluster, missing_requirements
from reelstream.devcluster.process import alive, free_port
from tests.support import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    missing = missing_requirements()
    require(not missing, f"the local cluster's engines ({', '.join(missing)})")
    root = Path(tempfile.mkdtemp(prefix="reelstream-supervise-", dir="/tmp"))
    root.chmod(0o755)  # PostgreSQL (user postgres) must traverse it
    spec = ClusterSpec(
        root / "data", apis=1, origins=1, workers=1, http_workers=1, edge_port=free_port()
    )
    local = LocalCluster(spec, echo=lambda _: None)
    try:
        local.start()
        yield local
    finally:
        left = local.stop()
        shutil.rmtree(root, ignore_errors=True)
        assert left == []


def pid_of(manifest_path: Path, name: str) -> int | None:
    """``name``'s pid in cluster.json (None while it is down: the manifest lists live ones)."""
    processes = json.loads(manifest_path.read_text())["processes"]
    return next((int(p["pid"]) for p in processes if p["name"] == name), None)


def answers(url: str) -> bool:
    """An HTTP server's ``/readyz`` answers 200, or Redis answers PING."""
    try:
        if url.startswith("redis://"):
            client = redis.Redis.from_url(url, socket_timeout=2)
            try:
                return bool(client.ping())
            finally:
                client.close()
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except (httpx.HTTPError, redis.RedisError):
        return False


def supervise_until_back(local: LocalCluster, name: str, url: str, old: int) -> int:
    """Call ``supervise`` (as ``cluster up`` does) until cluster.json names a new, live pid for
    ``name`` and ``url`` answers; return the new pid."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        local.supervise()
        new = pid_of(local.manifest_path, name)
        if new is not None and new != old and alive([new]) and answers(url):
            return new
        time.sleep(0.5)
    raise AssertionError(f"{name} did not come back within 90 s")


@pytest.mark.parametrize("name", ["api-1", "redis", "edge"])
def test_a_killed_process_comes_back_on_its_port(cluster: LocalCluster, name: str) -> None:
    manifest = json.loads(cluster.manifest_path.read_text())
    entry = next(p for p in manifest["processes"] if p["name"] == name)
    old = int(entry["pid"])
    assert answers(entry["url"])
    os.killpg(old, signal.SIGKILL)
    new = supervise_until_back(cluster, name, entry["url"], old)
    after = json.loads(cluster.manifest_path.read_text())
    assert next(p for p in after["processes"] if p["name"] == name)["url"] == entry["url"]
    assert new != old and not alive([old])
    assert cluster.supervisor.restarts[name] == 1
