"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from reelstream.api.deps import ServicesDep
from reelstream.db.models import JOB_STATES

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """The process can do its work: the database and the storage answer."""
    checks: dict[str, str] = {}
    for name, probe in (("database", services.db.ping), ("storage", services.store.ping)):
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


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition: HTTP, uploads, jobs by state, transcode durations."""
    counts = await services.queue.counts()
    for state in JOB_STATES:
        services.metrics.jobs.labels(state).set(counts.get(state, 0))
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
