"""``reelstream serve`` stops fast and completely on SIGTERM (issue 9, 7f: a stop once took
~31 s, logged ``database is locked`` and left its worker not marked stopped): every loop is
busy (registry beats, reaper, webhook poll, view flushes all every 50 ms, beacons arriving),
yet the process exits within seconds, and the workers registry says ``stopped``."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import run_server

pytestmark = pytest.mark.e2e  # real server processes

FAST = {
    "heartbeat_s": 0.05,
    "reaper_interval_s": 0.05,
    "poll_interval_s": 0.05,
    "webhook_poll_interval_s": 0.05,
    "views_flush_interval_s": 0.05,
}
ROUNDS = 3


def test_sigterm_stops_the_development_server_fast_and_marks_its_worker_stopped(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    pids = []
    for n in range(ROUNDS):
        with run_server(data, **FAST) as server:
            pids.append(server.proc.pid)
            done = threading.Event()

            def beacons(base: str = server.base_url, done: threading.Event = done) -> None:
                i = 0
                while not done.is_set():  # anonymous beacons: 404 for a made-up id is fine
                    i += 1
                    try:
                        httpx.post(
                            f"{base}/api/v1/videos/AAAAAAAAAAAAAAAA/views",
                            json={"session": f"player-{i:04d}"},
                            timeout=2,
                        )
                    except httpx.HTTPError:
                        return

            sender = threading.Thread(target=beacons, daemon=True)
            sender.start()
            time.sleep(1.5 + 0.3 * n)  # the registry beats some 30 times
            started = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(60)
            took = time.monotonic() - started
            done.set()
            sender.join(5)
            log = server.log_path.read_text(errors="replace")
        assert took < 5, f"round {n}: the stop took {took:.1f} s\n{log[-3000:]}"
        assert "database is locked" not in log, log[-3000:]
        assert "cannot mark worker" not in log, log[-3000:]
    with sqlite3.connect(data / "reelstream.db") as db:
        rows = dict(db.execute("SELECT pid, stopped_at FROM workers").fetchall())
    assert set(rows) == set(pids)
    assert all(stopped is not None for stopped in rows.values()), rows
