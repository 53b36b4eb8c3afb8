"""Prometheus metrics: one registry per app (several apps can live in one test process).

With several server processes on one port (``--workers N``), a scrape reaches one of them at
random, so each process's own numbers would jump from scrape to scrape. The CLI then sets
``PROMETHEUS_MULTIPROC_DIR`` before the processes start: ``prometheus_client`` keeps every
value in a file per process there, and ``exposition`` merges them (counters and histograms
summed over all processes, dead ones included, so they never go backwards; in-flight gauges
summed over the live ones; gauges read from the database: the most recent value).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
TRANSCODE_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)
MILESTONE_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200)
"""Upload complete -> playable / ready. 120 s and 1800 s are the SLO targets (docs/runbook.md):
an SLI reads its bucket, so a target must be a bucket boundary."""

MILESTONES = {
    "playable": (
        "reelstream_video_time_to_playable_seconds",
        "seconds from upload complete to the video first playable (first publish of a rev)",
    ),
    "ready": (
        "reelstream_video_time_to_ready_seconds",
        "seconds from upload complete to the video first ready (every rendition published)",
    ),
}
"""The per-video milestones, registered on first use (``Metrics.milestone``)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "reelstream_http_requests_total",
            "HTTP requests by route template, method and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "reelstream_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.uploads_created = Counter(
            "reelstream_uploads_created_total", "tus uploads created", registry=r
        )
        self.uploads_completed = Counter(
            "reelstream_uploads_completed_total", "tus uploads completed", registry=r
        )
        self.upload_bytes = Counter(
            "reelstream_upload_bytes_total", "bytes received and made durable", registry=r
        )
        self.jobs = Gauge(
            "reelstream_jobs",
            "jobs in the queue by state",
            ["state"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.workers = Gauge(
            "reelstream_workers",
            "worker processes by state (running; stale: silent for 3 heartbeats; stopped)",
            ["state"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.transcode_seconds = Histogram(
            "reelstream_transcode_duration_seconds",
            "wall time of one successful transcode attempt",
            buckets=TRANSCODE_BUCKETS,
            registry=r,
        )
        self.transcode_attempts = Counter(
            "reelstream_transcode_attempts_total",
            "transcode attempts by outcome",
            ["outcome"],
            registry=r,
        )
        self.cache_lookups = Counter(
            "reelstream_cache_lookups_total",
            "video metadata cache lookups by outcome (hit, miss)",
            ["outcome"],
            registry=r,
        )
        self.cache_errors = Counter(
            "reelstream_cache_errors_total",
            "cache (Redis) calls that failed; the request went on without the cache",
            ["op"],
            registry=r,
        )
        # -- admission control (reelstream.http.admission) and what an autoscaler reads
        self.http_inflight = Gauge(
            "reelstream_http_inflight",
            "HTTP requests in flight in this process, by admission pool (api, media, uploads)",
            ["pool"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.http_inflight_limit = Gauge(
            "reelstream_http_inflight_limit",
            "the admission bound of each pool in this process (0: unbounded)",
            ["pool"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.http_shed = Counter(
            "reelstream_http_shed",
            "requests refused with 503 + Retry-After because their pool was full",
            ["pool"],
            registry=r,
        )
        self.jobs_queued = Gauge(
            "reelstream_jobs_queued",
            "queued jobs by kind (ready now or waiting for a retry's backoff)",
            ["kind"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.jobs_oldest_ready_age = Gauge(
            "reelstream_jobs_oldest_ready_age_seconds",
            "how long the oldest job ready to run has waited for a worker, by kind (0: none)",
            ["kind"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.worker_slots = Gauge(
            "reelstream_worker_slots",
            "job slots of the running worker processes: total, and busy running a job",
            ["state"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.worker_utilization = Gauge(
            "reelstream_worker_utilization",
            "busy slots / total slots of the running worker processes (0 when there is none)",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        # -- what the alert rules and SLOs read (src/reelstream/monitoring/rules); labelled,
        # so a process that never sees the event exports no series (no misleading zero)
        self.storage_errors = Counter(
            "reelstream_storage_errors_total",
            "object store calls that failed (a missing object is not an error), by operation",
            ["op"],
            registry=r,
        )
        self.jobs_finished = Counter(
            "reelstream_jobs_finished_total",
            "job attempts by kind and outcome (succeeded, retried, failed: for good)",
            ["kind", "outcome"],
            registry=r,
        )
        self.signing_key_created = Gauge(
            "reelstream_signing_key_created_timestamp_seconds",
            "when the playback signing key in use was created (unix time; absent: unknown)",
            ["kid"],
            registry=r,
            multiprocess_mode="max",
        )
        self._milestones: dict[str, Histogram] = {}

    def milestone(self, name: str) -> Histogram:
        """The histogram of ``MILESTONES[name]``, registered on first use: only the processes
        that publish videos (workers) export it, never a flat zero from an api."""
        histogram = self._milestones.get(name)
        if histogram is None:
            metric, doc = MILESTONES[name]
            histogram = Histogram(metric, doc, buckets=MILESTONE_BUCKETS, registry=self.registry)
            self._milestones[name] = histogram
        return histogram


class MetricsMiddleware:
    """Counts requests and latency by route template (``/api/v1/videos/{video_id}``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # (method, route, status) -> its counter and histogram children, resolved once:
        # ``labels()`` takes a lock and hashes the label values on every call. Bounded by
        # the routes (unmatched paths share "unmatched"), methods and statuses.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            key = (method, template, status)
            children = self._children.get(key)
            if children is None:
                children = (
                    self.metrics.http_requests.labels(method, template, str(status)),
                    self.metrics.http_latency.labels(method, template),
                )
                if len(self._children) < 4096:
                    self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - start)


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    """Whether metric values are shared between server processes (``--workers N``)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry``, or with ``PROMETHEUS_MULTIPROC_DIR`` set, of every
    server process's metrics merged (see the module docstring)."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return generate_latest(registry)
    forget_dead_processes(Path(path))
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path)  # type: ignore[no-untyped-call]
    return generate_latest(merged)


def forget_dead_processes(path: Path) -> None:
    """Drop the live-only gauges (requests in flight) of processes that are gone: uvicorn's
    supervisor replaces a dead process without telling ``prometheus_client``."""
    for f in path.glob("gauge_live*_*.db"):
        try:
            pid = int(f.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, another user's
            continue
