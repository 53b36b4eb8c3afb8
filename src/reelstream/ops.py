"""Operational endpoints: liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics
(`/metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, PlainTextResponse, Response

from reelstream.db.errors import DatabaseUnavailable
from reelstream.db.models import JOB_STATES
from reelstream.http.deps import ServicesDep
from reelstream.queue import workers as registry

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
    """Prometheus exposition: HTTP, uploads, jobs by state, workers by state, transcode
    durations.

    The origin role never queries the database, so it exports no job gauges. Elsewhere, while
    the database is unreachable the job and worker gauges keep their last values and the rest
    is still exported (metrics matter most during an outage)."""
    if request.app.state.role != "origin":
        try:
            counts = await services.queue.counts()
            async with services.db.read(primary=True) as session:
                workers = await registry.list_workers(session, services.settings.heartbeat_s)
        except DatabaseUnavailable:
            counts = None
        if counts is not None:
            for state in JOB_STATES:
                services.metrics.jobs.labels(state).set(counts.get(state, 0))
            for state in ("running", "stale", "stopped"):
                n = sum(1 for w in workers if w.state == state)
                services.metrics.workers.labels(state).set(n)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
