"""A worker's own /metrics (``reelstream worker --metrics-port``): what the pool knows."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from reelstream.devcluster.process import free_port
from reelstream.observability.worker_exporter import serve_worker_metrics


@dataclass
class FakePool:
    concurrency: int = 2
    busy: int = 1
    last_beat_at: float = field(default_factory=lambda: time.time() - 42)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)


def test_the_worker_serves_its_slots_jobs_heartbeat_age_and_scratch_space(tmp_path: Path) -> None:
    pool = FakePool()
    pool.outcomes["transcode", "succeeded"] += 3
    pool.outcomes["poster", "failed"] += 1
    port = free_port()
    server = serve_worker_metrics(pool, tmp_path, port)
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        pool.busy = 0  # read at scrape time, not at start
        again = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
    assert resp.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }
    assert samples["reelstream_worker_up", ()] == 1
    assert samples["reelstream_worker_slots", (("state", "total"),)] == 2
    assert samples["reelstream_worker_slots", (("state", "busy"),)] == 1
    jobs = (("kind", "transcode"), ("outcome", "succeeded"))
    assert samples["reelstream_worker_jobs_total", jobs] == 3
    assert samples["reelstream_worker_jobs_total", (("kind", "poster"), ("outcome", "failed"))] == 1
    assert 41 <= samples["reelstream_worker_heartbeat_age_seconds", ()] < 60
    assert samples["reelstream_worker_scratch_free_bytes", ()] > 0
    assert 'reelstream_worker_slots{state="busy"} 0.0' in again
