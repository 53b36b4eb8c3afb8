"""``reelstream`` command: run the system or one of its roles, and talk to a server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import click

from reelstream import __version__
from reelstream.cli.capacity import capacity
from reelstream.cli.processing import retry, timeline
from reelstream.cli.server import prepare_data_dir, run_role
from reelstream.cli.upload import upload
from reelstream.cli.videos import videos
from reelstream.config import Settings
from reelstream.devcluster.cli import cluster
from reelstream.edge.cli import edge_config_command
from reelstream.observability.logging import configure_logging


def _settings(**overrides: object) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]


@click.group()
@click.version_option(__version__, prog_name="reelstream")
def main() -> None:
    """reelstream: upload, transcode and stream video."""


def _listen_options(f: Callable[..., None]) -> Callable[..., None]:
    f = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where the database, uploads and media live [./data].",
    )(f)
    f = click.option("--port", type=int, default=None, help="Port to listen on [8000].")(f)
    return click.option("--host", default=None, help="Interface to listen on [127.0.0.1].")(f)


def _workers_option(f: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--workers",
        type=click.IntRange(1, 256),
        default=None,
        help="Server processes on the same port [REELSTREAM_HTTP_WORKERS, else one per core].",
    )(f)


@main.command()
@_listen_options
@_workers_option
def serve(host: str | None, port: int | None, data_dir: Path | None, workers: int | None) -> None:
    """Run everything on one port: API, uploads, origin, web pages and the job workers."""
    run_role("all", host, port, data_dir, workers)


@main.command()
@_listen_options
@_workers_option
def api(host: str | None, port: int | None, data_dir: Path | None, workers: int | None) -> None:
    """Run the control plane only: tus uploads, the video API and the web pages."""
    run_role("api", host, port, data_dir, workers)


@main.command()
@_listen_options
@_workers_option
def origin(host: str | None, port: int | None, data_dir: Path | None, workers: int | None) -> None:
    """Run media delivery only: signed playlists, segments and posters."""
    run_role("origin", host, port, data_dir, workers)


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--concurrency", type=int, default=None, help="Jobs run at once [1].")
def worker(data_dir: Path | None, concurrency: int | None) -> None:
    """Run transcode workers only, on the configured database and storage."""
    from reelstream.db.migrate import upgrade
    from reelstream.worker import run_worker_process

    settings = _settings(data_dir=data_dir, worker_concurrency=concurrency)
    configure_logging(settings.log_level, settings.log_format)
    prepare_data_dir(settings)
    # expand only: a contract migration waits for `reelstream migrate --phase contract`
    upgrade(settings.resolved_database_url, "expand", tolerate_newer=True)
    asyncio.run(run_worker_process(settings))


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--phase",
    type=click.Choice(["expand", "contract", "all"]),
    default="all",
    show_default=True,
    help="expand: only migrations the running release survives (before a rolling upgrade); "
    "contract: the rest, once every role runs the new release (docs/deploy.md).",
)
def migrate(data_dir: Path | None, phase: str) -> None:
    """Bring the database schema up to date (or to the end of one phase)."""
    from reelstream.db.migrate import PHASES, upgrade

    settings = _settings(data_dir=data_dir)
    prepare_data_dir(settings)
    chosen = next(p for p in PHASES if p == phase)
    upgrade(settings.resolved_database_url, chosen)
    click.echo("database is up to date" if phase == "all" else f"{phase} phase applied")


@main.group()
def users() -> None:
    """Manage accounts on this server's database."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@click.option("--email", default=None, help="Email address (optional).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read a password (for web sign-in) from stdin; without it the account is token-only.",
)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def users_create(
    name: str, admin: bool, email: str | None, password_stdin: bool, data_dir: Path | None
) -> None:
    """Create user NAME and print a new personal access token for it (stdout, once).

    The token has the admin scope for an admin, write otherwise. The first admin of a
    production server is made this way: reelstream users create NAME --admin --password-stdin
    """
    from reelstream.auth.errors import AuthError
    from reelstream.db.migrate import upgrade

    settings = _settings(data_dir=data_dir)
    prepare_data_dir(settings)
    # expand only, as a role at start: a contract waits for `reelstream migrate`
    upgrade(settings.resolved_database_url, "expand", tolerate_newer=True)
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        token = asyncio.run(_create_user(settings, name, password, email, admin))
    except AuthError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(token)


async def _create_user(
    settings: Settings, name: str, password: str | None, email: str | None, admin: bool
) -> str:
    from reelstream.auth.accounts import create_user
    from reelstream.auth.tokens_api import create_token
    from reelstream.db import Database

    db = Database(settings.resolved_database_url, None, timeout_s=settings.database_timeout_s)
    try:
        async with db.transaction() as s:
            user = await create_user(s, name, password, email=email, is_admin=admin)
            plain, _ = await create_token(s, user, "cli", ["admin" if admin else "write"])
    finally:
        await db.dispose()
    return plain


main.add_command(upload)
main.add_command(videos)
main.add_command(timeline)
main.add_command(retry)
main.add_command(edge_config_command)
main.add_command(cluster)
main.add_command(capacity)
