"""Operational endpoints: liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics
(`/metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import JSONResponse, PlainTextResponse, Response

from reelstream.db.errors import DatabaseUnavailable
from reelstream.db.models import JOB_STATES
from reelstream.http.deps import ServicesDep
from reelstream.observability.metrics import exposition
from reelstream.queue import workers as registry
from reelstream.queue.kinds import JOB_KINDS

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep, request: Request) -> JSONResponse:
    """The process can do its work: the storage answers and, except on the origin role (which
    never queries the database), the database primary accepts writes (``Database.ping``)."""
    checks: dict[str, str] = {}
    probes = [("database", services.db.ping), ("storage", services.store.ping)]
    if request.app.state.role == "origin":
        probes = probes[1:]
    for name, probe in probes:
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which and why
            checks[name] = f"error: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep, request: Request) -> Response:
    """Prometheus exposition: HTTP (requests in flight and shed by admission control
    included), uploads, jobs by state, the queue's backlog by kind (queued, the oldest ready
    job's wait), workers by state and their slot utilisation, transcode durations.

    The origin role never queries the database, so it exports no job gauges. Elsewhere, while
    the database is unreachable the job and worker gauges keep their last values and the rest
    is still exported (metrics matter most during an outage)."""
    if request.app.state.role != "origin":
        try:
            counts = await services.queue.counts()
            backlog = await services.queue.backlog()
            async with services.db.read(primary=True) as session:
                workers = await registry.list_workers(session, services.settings.heartbeat_s)
        except DatabaseUnavailable:
            counts = None
        if counts is not None:
            m = services.metrics
            for state in JOB_STATES:
                m.jobs.labels(state).set(counts.get(state, 0))
            for state in ("running", "stale", "stopped"):
                n = sum(1 for w in workers if w.state == state)
                m.workers.labels(state).set(n)
            for kind in set(JOB_KINDS) | set(backlog):
                b = backlog.get(kind)
                m.jobs_queued.labels(kind).set(b.queued if b else 0)
                m.jobs_oldest_ready_age.labels(kind).set(b.oldest_ready_s if b else 0)
            live = [w for w in workers if w.state == "running"]
            total = sum(w.slots for w in live)
            busy = sum(min(w.running, w.slots) for w in live)
            m.worker_slots.labels("total").set(total)
            m.worker_slots.labels("busy").set(busy)
            m.worker_utilization.set(busy / total if total else 0.0)
    return Response(exposition(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
