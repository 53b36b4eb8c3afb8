"""The app factory: builds settings-driven services, routes, and the background workers.

One code base, three roles (``role``):

* ``all``: everything in one process (``reelstream serve``), workers included when
  ``embedded_workers`` is on;
* ``api``: the control plane: tus uploads, the video API, web pages;
* ``origin``: media delivery only (signed playlists and segments), behind the edge tier.

Every role serves ``/healthz``, ``/readyz`` and ``/metrics``. No role keeps state another
instance needs: everything lives in the database, the blob store and (optionally) Redis.
Requests beyond each process's in-flight bounds are shed with a 503 (``reelstream.http.admission``).

``create_app_from_env`` is the factory the CLI hands uvicorn when it runs several processes on
one port (``--workers N``): each process builds its app from ``REELSTREAM_*`` variables, and
with the ``all`` role only the one holding the data dir's lock runs the job workers
(``reelstream.worker.ElectedPool``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import anyio
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from reelstream import __version__
from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.delivery.asgi import MediaApp, is_media_request
from reelstream.http.admission import AdmissionMiddleware, pools_from_settings
from reelstream.http.errors import install_error_handlers
from reelstream.http.openapi import install_openapi
from reelstream.ingest.service import build_upload_service
from reelstream.observability.metrics import MetricsMiddleware
from reelstream.observability.request_id import RequestIdMiddleware
from reelstream.ratelimit.deps import RateLimitHeaders, limit_api, limit_beacons
from reelstream.ratelimit.limiter import RateLimiter
from reelstream.services import build_services

if TYPE_CHECKING:
    from reelstream.worker import ElectedPool, WorkerPool

log = logging.getLogger(__name__)

Role = Literal["all", "api", "origin"]
ROLES: tuple[Role, ...] = ("all", "api", "origin")
ROLE_ENV = "REELSTREAM_ROLE"
"""Which role ``create_app_from_env`` builds; set by the CLI for its server processes."""


class ReelstreamApp(FastAPI):
    """FastAPI, with ``/media/...`` answered before FastAPI's own entry and middleware stack
    by ``media`` when the role serves media (``reelstream.delivery.asgi``: a segment costs a
    token check, a stat and the send, not the framework), and ``front`` (the request id, then
    admission control) around both, so a shed request costs nothing else and media requests
    are bounded too. The ``/media`` routes stay in the OpenAPI document."""

    media: ASGIApp | None = None
    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is not None:
            await self.front(scope, receive, send)
        else:
            await self.dispatch(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/media`` to ``media``, everything else to FastAPI."""
        if self.media is not None and is_media_request(scope):
            await self.media(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    role: Role = "all",
    run_workers: bool | None = None,
    migrate: bool = True,
    elect_workers: bool = False,
    bootstrap: bool = True,
) -> FastAPI:
    """Build the ASGI app. ``run_workers`` overrides ``settings.embedded_workers``;
    ``elect_workers``: run them only while holding the data dir's lock (several processes
    serve one data dir); ``bootstrap``: create the development admin at start (the CLI does it
    once before starting several processes)."""
    settings = settings or Settings()
    settings.prepare()
    if role in ("all", "api") and settings.require_public_base_url():  # they sign URLs
        log.warning(
            "public_base_url is not set: playback URLs use %s (this server listens on a "
            "loopback address only); for browsers on other machines, put a TLS proxy in front "
            "and set REELSTREAM_PUBLIC_BASE_URL=https://videos.example.com (and "
            "REELSTREAM_FORWARDED_ALLOW_IPS=<the proxy's address> if it runs elsewhere)",
            settings.public_base_url,
        )
    services = build_services(settings)
    limiter = RateLimiter(settings)
    views = None
    if role in ("all", "api"):  # view counts and resume positions (reelstream.views)
        from reelstream.views.aggregator import ViewAggregator
        from reelstream.views.seen import create_shared_seen

        views = ViewAggregator(
            services.db,
            flush_interval_s=settings.views_flush_interval_s,
            flush_batch=settings.views_flush_batch,
            dedupe_window_s=settings.views_dedupe_window_s,
            shared=create_shared_seen(settings),  # Redis when configured: one count for all
            counted=services.video_cache.counts_changed,  # the local read tier shows them
        )
    qoe = None
    if role in ("all", "api"):  # viewer QoE reports (reelstream.qoe), written in batches
        from reelstream.qoe.collector import QoeCollector
        from reelstream.qoe.metrics import PlayerMetrics

        qoe = QoeCollector(
            services.db,
            PlayerMetrics(services.metrics.registry),
            flush_interval_s=settings.views_flush_interval_s,
            flush_batch=settings.views_flush_batch,
            retention_days=settings.qoe_retention_days,
        )
    with_workers = role == "all" and (
        settings.embedded_workers if run_workers is None else run_workers
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate and role != "origin":  # the origin never queries the database
            await anyio.to_thread.run_sync(upgrade, settings.resolved_database_url)
        await services.start()
        if bootstrap and role != "origin":  # development: the first admin (auth.bootstrap)
            from reelstream.auth.bootstrap import bootstrap_admin

            await bootstrap_admin(services)
        pool: WorkerPool | ElectedPool | None = None
        if with_workers:
            from reelstream.worker import LEADER_LOCK, ElectedPool, WorkerPool

            if elect_workers:
                pool = ElectedPool(services, settings.data_dir / LEADER_LOCK)
            else:
                pool = WorkerPool(services)
            await pool.start()
        if views is not None:
            await views.start()
        if qoe is not None:
            await qoe.start()
        try:
            yield
        finally:
            if views is not None:
                await views.stop()  # the last flush: pending views and positions
            if qoe is not None:
                await qoe.stop()
            if pool is not None:
                await pool.stop()
            await limiter.close()
            await services.close()

    app = ReelstreamApp(
        title="reelstream",
        version=__version__,
        summary="Self-hostable video-on-demand: resumable upload, ABR transcode, signed playback",
        lifespan=lifespan,
        # /docs is served from local files by the web pages (reelstream.web.site_files);
        # ReDoc is not vendored, so it is off rather than loaded from a CDN
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.services = services
    app.state.role = role
    app.state.ratelimiter = limiter  # reelstream.ratelimit.deps
    app.state.views = views
    app.state.qoe = qoe
    # videos -> ingest would be a circle (ingest builds on videos): deleting a video reaches
    # its staged upload data through this port (reelstream.videos.deps)
    app.state.discard_staging = lambda svc: build_upload_service(svc).discard_for_video
    install_error_handlers(app)
    install_openapi(app)

    from reelstream.ops import router as ops_router

    app.include_router(ops_router)
    if role in ("all", "api"):
        from reelstream.ingest.routes import router as ingest_router
        from reelstream.processing.routes import router as processing_router
        from reelstream.quota.routes import router as usage_router
        from reelstream.videos.media_routes import router as media_router
        from reelstream.videos.routes import router as videos_router
        from reelstream.web.pages import mount_web
        from reelstream.webhooks.routes import router as webhooks_router

        app.include_router(ingest_router)  # tus creation: the "upload" limit, on the route
        # the API: "reads" (per IP) for GET/HEAD, "writes" (per account) for changes
        app.include_router(videos_router, dependencies=[Depends(limit_api)])
        app.include_router(media_router, dependencies=[Depends(limit_api)])
        app.include_router(processing_router, dependencies=[Depends(limit_api)])
        app.include_router(usage_router)
        from reelstream.account.routes import router as me_router

        app.include_router(me_router)  # /api/v1/me/password, /api/v1/me/sessions
        from reelstream.admin.routes import router as admin_router

        app.include_router(admin_router)  # /api/v1/admin: jobs, workers, users (admins only)
        app.include_router(webhooks_router)
        from reelstream.videos.beacons import router as views_router

        # player beacons: "beacons" (per IP); in memory, written in batches
        app.include_router(views_router, dependencies=[Depends(limit_beacons)])
        from reelstream.qoe.routes import admin_router as qoe_admin_router
        from reelstream.qoe.routes import beacon_router as qoe_router

        app.include_router(qoe_router, dependencies=[Depends(limit_beacons)])
        app.include_router(qoe_admin_router)  # /api/v1/admin/qoe (admins only)
    if role in ("all", "origin"):
        from reelstream.delivery.routes import router as delivery_router

        app.include_router(delivery_router)  # the operations, for the OpenAPI document
        app.media = MediaApp(services, metrics=services.metrics)  # what answers them
    if role in ("all", "api"):
        mount_web(app)
        from reelstream.videos.fastpath import HotReads

        app.add_middleware(HotReads)  # innermost: the anonymous hot reads, before routing
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    # outermost, media included: a shed request costs no other work; around it the request
    # id, so every answer (a shed one too) and every log line of the request carries it
    app.front = RequestIdMiddleware(
        AdmissionMiddleware(
            app.dispatch, limits=pools_from_settings(settings), metrics=services.metrics
        )
    )
    return app


def create_app_from_env() -> FastAPI:
    """The app of one of several server processes (uvicorn ``factory=True``): settings from
    the environment, the role from ``REELSTREAM_ROLE``; the CLI migrated the database and
    created the development admin before starting them; the job workers of the ``all`` role
    run in one process at a time."""
    from reelstream.observability.logging import configure_logging

    role = os.environ.get(ROLE_ENV, "all")
    if role not in ROLES:
        raise ValueError(f"{ROLE_ENV}={role!r} is not one of {', '.join(ROLES)}")
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, role=role, migrate=False, elect_workers=True, bootstrap=False)
