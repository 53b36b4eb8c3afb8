"""Run one HTTP role (``serve``, ``api``, ``origin``) on uvicorn, in one process or N.

uvicorn runs with uvloop and httptools (measured in docs/performance.md: about twice the
requests per second of its pure-Python h11 parser). Its defaults for proxies are kept:
``X-Forwarded-For`` is applied from the addresses in ``FORWARDED_ALLOW_IPS`` (127.0.0.1 by
default), and SIGTERM finishes in-flight requests for ``shutdown_grace_s``.

With ``workers`` > 1, uvicorn's supervisor starts that many processes on one listening socket
(the kernel spreads connections over them) and restarts any that dies. The processes are
spawned, not forked, so they get their settings from the environment: this module writes the
resolved ``REELSTREAM_*`` values (data dir, host, port, role) there and hands uvicorn the
factory ``reelstream.app:create_app_from_env``. What must happen once per data dir happens
before: the data folders and signing key (``Settings.prepare``), the migrations and the
development admin (``reelstream.auth.bootstrap``); the job
workers of the ``all`` role run in one process at a time (``reelstream.worker.ElectedPool``);
``/metrics`` merges every process's values from ``<data_dir>/metrics-<port>`` (removed at exit).
One process (``workers`` = 1) is the app object served directly, as before.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reelstream import __version__
from reelstream.config import Settings
from reelstream.observability.logging import configure_logging
from reelstream.observability.metrics import MULTIPROC_ENV

if TYPE_CHECKING:
    from reelstream.app import Role

LOOP = "uvloop"
HTTP = "httptools"


def default_workers(settings: Settings) -> int:
    """``http_workers`` when set, else one per core."""
    return settings.http_workers or os.cpu_count() or 1


def run_role(
    role: Role, host: str | None, port: int | None, data_dir: Path | None, workers: int | None
) -> None:
    import uvicorn

    from reelstream.app import ROLE_ENV, create_app
    from reelstream.db.migrate import upgrade

    overrides = {"host": host, "port": port, "data_dir": data_dir}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    configure_logging(settings.log_level)
    settings.prepare()
    if role != "origin":  # the origin never queries the database: it starts without one
        # a role of a cluster applies expand migrations only (reelstream.db.migrate): the
        # contract waits until every role runs this release; `serve` (one process) does all
        upgrade(
            settings.resolved_database_url,
            "all" if role == "all" else "expand",
            tolerate_newer=role != "all",
        )
    n = workers or default_workers(settings)
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": settings.access_log,
        "timeout_graceful_shutdown": int(settings.shutdown_grace_s),
        "loop": LOOP,
        "http": HTTP,
    }
    where = f"http://{settings.host}:{settings.port}/"
    if n == 1:
        app = create_app(settings, role=role, migrate=False)
        click.echo(f"reelstream {__version__} ({role}) on {where}")
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    if role != "origin":
        asyncio.run(_bootstrap(settings))  # once, not in each process
    os.environ.update(
        {
            ROLE_ENV: role,
            "REELSTREAM_DATA_DIR": str(settings.data_dir.resolve()),
            "REELSTREAM_HOST": settings.host,
            "REELSTREAM_PORT": str(settings.port),
            "REELSTREAM_HTTP_WORKERS": str(n),
        }
    )
    metrics_dir = None
    if MULTIPROC_ENV not in os.environ:  # one /metrics for all processes (observability.metrics)
        metrics_dir = settings.data_dir.resolve() / f"metrics-{settings.port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)  # a previous run's values
        metrics_dir.mkdir(parents=True)
        os.environ[MULTIPROC_ENV] = str(metrics_dir)
    click.echo(f"reelstream {__version__} ({role}, {n} processes) on {where}")
    try:
        uvicorn.run(
            "reelstream.app:create_app_from_env",
            factory=True,
            workers=n,
            **options,  # type: ignore[arg-type]
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


async def _bootstrap(settings: Settings) -> None:
    """The development admin (``reelstream.auth.bootstrap``), before the processes start."""
    from reelstream.auth.bootstrap import bootstrap_admin
    from reelstream.services import build_services

    services = build_services(settings)
    try:
        await bootstrap_admin(services)
    finally:
        await services.close()
