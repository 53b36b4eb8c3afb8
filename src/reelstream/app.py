"""The app factory: builds settings-driven services, routes, and the background workers.

One code base, three roles (``role``):

* ``all``: everything in one process (``reelstream serve``), workers included when
  ``embedded_workers`` is on;
* ``api``: the control plane: tus uploads, the video API, web pages;
* ``origin``: media delivery only (signed playlists and segments), behind the edge tier.

Every role serves ``/healthz``, ``/readyz`` and ``/metrics``. No role keeps state another
instance needs: everything lives in the database, the blob store and (optionally) Redis.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio
from fastapi import FastAPI

from reelstream import __version__
from reelstream.api.errors import install_error_handlers
from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.observability.metrics import MetricsMiddleware
from reelstream.services import build_services

log = logging.getLogger(__name__)

Role = Literal["all", "api", "origin"]


def create_app(
    settings: Settings | None = None,
    *,
    role: Role = "all",
    run_workers: bool | None = None,
    migrate: bool = True,
) -> FastAPI:
    """Build the ASGI app. ``run_workers`` overrides ``settings.embedded_workers``."""
    settings = settings or Settings()
    settings.prepare()
    services = build_services(settings)
    with_workers = role == "all" and (
        settings.embedded_workers if run_workers is None else run_workers
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate and role != "origin":  # the origin never queries the database
            await anyio.to_thread.run_sync(upgrade, settings.resolved_database_url)
        await services.start()
        if role != "origin":  # development mode: the first admin (reelstream.auth.bootstrap)
            from reelstream.auth.bootstrap import bootstrap_admin

            await bootstrap_admin(services)
        pool = None
        if with_workers:
            from reelstream.transcode.worker import WorkerPool

            pool = WorkerPool(services)
            await pool.start()
        try:
            yield
        finally:
            if pool is not None:
                await pool.stop()
            await services.close()

    app = FastAPI(
        title="reelstream",
        version=__version__,
        summary="Self-hostable video-on-demand: resumable upload, ABR transcode, signed playback",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.role = role
    install_error_handlers(app)

    from reelstream.api.ops import router as ops_router

    app.include_router(ops_router)
    if role in ("all", "api"):
        from reelstream.api.media import router as media_router
        from reelstream.api.videos import router as videos_router
        from reelstream.ingest.routes import router as ingest_router
        from reelstream.web.pages import mount_web

        app.include_router(ingest_router)
        app.include_router(videos_router)
        app.include_router(media_router)
    if role in ("all", "origin"):
        from reelstream.delivery.routes import router as delivery_router

        app.include_router(delivery_router)
    if role in ("all", "api"):
        mount_web(app)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    return app
