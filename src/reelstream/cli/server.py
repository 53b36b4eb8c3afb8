"""Run one HTTP role (``serve``, ``api``, ``origin``) on uvicorn, in one process or N.

uvicorn runs with uvloop and httptools (measured in docs/performance.md: about twice the
requests per second of its pure-Python h11 parser). ``X-Forwarded-For`` and
``X-Forwarded-Proto`` are applied from the proxies in ``forwarded_allow_ips`` (uvicorn's
``FORWARDED_ALLOW_IPS``, 127.0.0.1, when unset), and SIGTERM finishes in-flight requests for
``shutdown_grace_s``.

Before anything starts, the port is checked (``check_port_free``: a second server on a taken
port exits 2 with one line before migrating or registering a worker) and the data dir prepared
(``prepare_data_dir``: one line and exit 2 when it cannot be used, no traceback); the start-up
line names the mode, and ``reelstream.auth.onboarding`` adds what a new operator must set.

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
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reelstream import __version__
from reelstream.config import Settings
from reelstream.observability.logging import configure_logging, logging_config
from reelstream.observability.metrics import MULTIPROC_ENV

if TYPE_CHECKING:
    from reelstream.app import Role

log = logging.getLogger(__name__)

LOOP = "uvloop"
HTTP = "httptools"


def default_workers(settings: Settings) -> int:
    """``http_workers`` when set, else one per core."""
    return settings.http_workers or os.cpu_count() or 1


def prepare_data_dir(settings: Settings) -> None:
    """``Settings.prepare``, with a data dir that cannot be used told in one line (exit 2)
    instead of a traceback."""
    try:
        settings.prepare()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        click.echo(
            f"reelstream: cannot use the data dir {settings.data_dir}: {reason} "
            f"({exc.filename or settings.data_dir}); choose another with --data-dir or "
            "REELSTREAM_DATA_DIR, or fix its permissions",
            err=True,
        )
        raise SystemExit(2) from None


def check_port_free(host: str, port: int) -> None:
    """Exit 2 with one line when ``host:port`` cannot be listened on (another server holds
    it), before anything starts: no migration, no worker registered, no job claimed. Bound the
    way uvicorn binds (``SO_REUSEADDR``, so a port in TIME_WAIT is not a false alarm)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        click.echo(
            f"reelstream: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another server running there?); choose another with --port",
            err=True,
        )
        raise SystemExit(2) from None


def uvicorn_options(settings: Settings) -> dict[str, object]:
    """What uvicorn runs with; ``X-Forwarded-*`` are believed from ``forwarded_allow_ips``;
    its loggers write through reelstream's formatter (``log_format``)."""
    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": logging_config(settings.log_level, settings.log_format),
        "log_level": settings.log_level.lower(),
        "access_log": settings.access_log,
        "timeout_graceful_shutdown": int(settings.shutdown_grace_s),
        "loop": LOOP,
        "http": HTTP,
        "proxy_headers": True,
    }
    if settings.forwarded_allow_ips is not None:
        options["forwarded_allow_ips"] = settings.forwarded_allow_ips
    return options


def run_role(
    role: Role, host: str | None, port: int | None, data_dir: Path | None, workers: int | None
) -> None:
    import uvicorn

    from reelstream.app import ROLE_ENV, create_app
    from reelstream.auth.onboarding import startup_advice
    from reelstream.db.migrate import upgrade

    overrides = {"host": host, "port": port, "data_dir": data_dir}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_format)
    check_port_free(settings.host, settings.port)
    prepare_data_dir(settings)
    if role != "origin":  # the roles that serve pages and sign-in
        for line in startup_advice(settings, env_was_set="env" in settings.model_fields_set):
            log.warning(line)
    if role != "origin":  # the origin never queries the database: it starts without one
        # a role of a cluster applies expand migrations only (reelstream.db.migrate): the
        # contract waits until every role runs this release; `serve` (one process) does all
        upgrade(
            settings.resolved_database_url,
            "all" if role == "all" else "expand",
            tolerate_newer=role != "all",
        )
    n = workers or default_workers(settings)
    options = uvicorn_options(settings)
    where = f"http://{settings.host}:{settings.port}/"
    mode = f"{settings.env} mode"
    if n == 1:
        app = create_app(settings, role=role, migrate=False)
        _banner(settings, f"reelstream {__version__} ({role}, {mode}) on {where}")
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
    _banner(settings, f"reelstream {__version__} ({role}, {mode}, {n} processes) on {where}")
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


def _banner(settings: Settings, line: str) -> None:
    """The start-up line: on stdout for a person, a log record when the log is JSON lines (so
    every line of the process's output parses)."""
    if settings.log_format == "json":
        log.info(line)
    else:
        click.echo(line)


async def _bootstrap(settings: Settings) -> None:
    """The development admin (``reelstream.auth.bootstrap``), before the processes start."""
    from reelstream.auth.bootstrap import bootstrap_admin
    from reelstream.services import build_services

    services = build_services(settings)
    try:
        await bootstrap_admin(services)
    finally:
        await services.close()
