"""``/metrics`` of a ``reelstream worker`` process, on a loopback port of its own.

A worker serves no HTTP, so Prometheus could not see it: a hung worker (stopped, deadlocked)
would only show up once the registry calls it stale. ``serve_worker_metrics`` starts
prometheus_client's own HTTP server thread (``start_http_server``) over a registry holding one
collector that reads the pool at scrape time: whether it is up, its slots and busy slots, the
attempts it ran by kind and outcome, the age of its last registry heartbeat and the free bytes
of its scratch folder. A scrape that times out is the hung-worker signal (``up == 0``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class PoolView(Protocol):
    """What the exporter reads from a worker pool (``reelstream.worker.WorkerPool``)."""

    @property
    def concurrency(self) -> int: ...
    @property
    def busy(self) -> int: ...
    @property
    def last_beat_at(self) -> float:
        """``time.time()`` of the last heartbeat the registry accepted."""
        ...

    @property
    def outcomes(self) -> Mapping[tuple[str, str], int]:
        """Attempts run, by (job kind, outcome)."""
        ...


class WorkerCollector(Collector):
    def __init__(self, pool: PoolView, scratch: Path) -> None:
        self.pool = pool
        self.scratch = scratch

    def collect(self) -> Iterator[Metric]:
        pool = self.pool
        yield GaugeMetricFamily("reelstream_worker_up", "1 while the worker pool runs", value=1)
        slots = GaugeMetricFamily(
            "reelstream_worker_slots",
            "this worker's job slots: total, and busy running an attempt (the api's gauge of the "
            "same name sums the registry's running workers)",
            labels=["state"],
        )
        slots.add_metric(["total"], pool.concurrency)
        slots.add_metric(["busy"], pool.busy)
        yield slots
        jobs = CounterMetricFamily(
            "reelstream_worker_jobs", "attempts this process ran, by kind and outcome",
            labels=["kind", "outcome"],
        )  # fmt: skip
        for (kind, outcome), count in sorted(pool.outcomes.items()):
            jobs.add_metric([kind, outcome], count)
        yield jobs
        yield GaugeMetricFamily(
            "reelstream_worker_heartbeat_age_seconds",
            "seconds since the workers registry last accepted this worker's heartbeat",
            value=max(0.0, time.time() - pool.last_beat_at),
        )
        free = GaugeMetricFamily(
            "reelstream_worker_scratch_free_bytes", "free bytes of the worker's scratch folder"
        )
        path = self.scratch if self.scratch.exists() else Path(os.sep)
        free.add_metric([], shutil.disk_usage(path).free)
        yield free


def serve_worker_metrics(
    pool: PoolView, scratch: Path, port: int, app_registry: CollectorRegistry | None = None
) -> WSGIServer:
    """Serve the pool's metrics on ``127.0.0.1:port`` from a daemon thread, with those of
    ``app_registry`` (the process's ``Metrics``: transcode durations and attempts); returns the
    server (``shutdown()`` and ``server_close()`` stop it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(pool, scratch))
    if app_registry is not None:
        registry.register(app_registry)
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    return server
