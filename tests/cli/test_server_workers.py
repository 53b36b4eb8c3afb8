"""``reelstream serve --workers N``: N processes on one port under uvicorn's supervisor.

The job workers run in exactly one of them (the holder of ``<data_dir>/workers.lock``); when
that process is SIGKILLed the port keeps answering, the supervisor starts a new process, and
another process takes the job workers over within seconds. SIGTERM to the parent stops every
process gracefully (the pool marks itself stopped in the workers registry). ``/metrics``
reports the requests of every process, whichever one answers the scrape."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support import ADMIN_HEADERS, run_server

pytestmark = pytest.mark.e2e  # real server processes


def server_children(parent: int) -> set[int]:
    """The server processes (not multiprocessing's resource tracker)."""
    out = set()
    for child in psutil.Process(parent).children():
        try:
            cmd = " ".join(child.cmdline())
            if "spawn_main" in cmd and child.status() != psutil.STATUS_ZOMBIE:
                out.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def running_pools(data_dir: Path) -> set[int]:
    """Pids of the worker pools the registry has as running (not stopped)."""
    with sqlite3.connect(data_dir / "reelstream.db") as db:
        rows = db.execute("SELECT pid FROM workers WHERE stopped_at IS NULL").fetchall()
    return {int(r[0]) for r in rows}


REQUESTS = 40
NOT_FOUND = (
    'reelstream_http_requests_total{method="GET",route="/api/v1/videos/{video_id}",status="404"}'
)


def not_found(base_url: str) -> float:
    """The 404s of ``GET /api/v1/videos/{id}`` that ``/metrics`` reports."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(NOT_FOUND):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(180)
def test_workers_share_the_port_survive_a_killed_process_and_stop_together(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with run_server(data, http_workers=2, heartbeat_s=0.5, lease_s=6) as server:
        parent = server.proc.pid

        def two_children(without: int = 0) -> set[int] | None:
            found = server_children(parent)
            return found if len(found) == 2 and without not in found else None

        children = eventually(two_children, "two processes")
        leader = eventually(
            lambda: (p := running_pools(data) & children) and p, "one process runs the pool"
        )
        assert len(leader) == 1, leader
        (leader_pid,) = leader
        # the development admin was made once, before the processes started, with its token
        assert server.log_path.read_text().count("created the first admin") == 1
        r = httpx.get(f"{server.base_url}/api/v1/admin/workers", headers=ADMIN_HEADERS, timeout=5)
        assert r.status_code == 200
        time.sleep(3)  # more than one election period: still one pool for the data dir
        assert running_pools(data) == {leader_pid}

        # /metrics answers for every process, whichever one takes the scrape
        for _ in range(REQUESTS):  # a new connection each: the kernel spreads them
            r = httpx.get(f"{server.base_url}/api/v1/videos/AAAAAAAAAAAAAAAA", timeout=5)
            assert r.status_code == 404
        for _ in range(6):
            assert not_found(server.base_url) == REQUESTS

        psutil.Process(leader_pid).kill()  # SIGKILL
        for _ in range(20):  # the other process answers meanwhile, on the same port
            assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200

        # the supervisor replaces the dead process...
        after = eventually(lambda: two_children(without=leader_pid), "a new server process")
        assert after != children
        # ...and a surviving process runs the job workers now
        new_leader = eventually(
            lambda: (p := (running_pools(data) - {leader_pid}) & after) and p,
            "another process to take the pool over",
        )
        assert len(new_leader) == 1, new_leader
        assert httpx.get(f"{server.base_url}/readyz", timeout=5).status_code == 200
        for _ in range(6):  # the dead process's requests still count: no counter goes back
            assert not_found(server.base_url) == REQUESTS

        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(60)
        log = server.log_path.read_text(errors="replace")
        for pid in after:
            assert not psutil.pid_exists(pid) or (
                psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            ), log[-3000:]
    with sqlite3.connect(data / "reelstream.db") as db:
        (stopped,) = db.execute(
            "SELECT stopped_at FROM workers WHERE pid = ?", (next(iter(new_leader)),)
        ).fetchone()
    assert stopped is not None, log[-3000:]
    assert "Child process" in log and "died" in log
