"""``reelstream edge-config``: write (and check) the nginx configuration of the cache tier."""

from __future__ import annotations

from pathlib import Path

import click

from reelstream.config import Settings
from reelstream.edge import render
from reelstream.edge.config import NJS_MODULE, edge_config
from reelstream.edge.errors import EdgeError

_DIR = click.Path(file_okay=False, path_type=Path)


@click.command("edge-config")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    metavar="URL",
    help="An origin (reelstream origin), e.g. http://10.0.0.5:8000. Repeat for each one.",
)
@click.option(
    "--api",
    "apis",
    multiple=True,
    metavar="URL",
    help="An api server for everything but /media. Repeat; the origins when omitted.",
)
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT or PORT.")
@click.option("--cache-dir", type=_DIR, required=True, help="Where nginx keeps cached media.")
@click.option("--cache-size", default="10g", show_default=True, help="Largest cache on disk.")
@click.option(
    "--keys-zone-size",
    default="64m",
    show_default=True,
    help="Shared memory for cache keys (about 8000 files per megabyte).",
)
@click.option("--segment-ttl", default="365d", show_default=True, help="Cache time of segments.")
@click.option("--playlist-ttl", default="2s", show_default=True, help="Cache time of playlists.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The nginx.conf to write (the token script goes next to it as OUT.token.js).",
)
@click.option(
    "--prefix",
    type=_DIR,
    default=None,
    help="Folder for nginx's pid file, logs/ and tmp/ [the folder of --out].",
)
@click.option("--user", default=None, help="User (and group) of nginx worker processes.")
@click.option(
    "--data-dir",
    type=_DIR,
    default=None,
    help="Data folder whose signing keys to use, as the origins do [settings].",
)
@click.option(
    "--njs-module",
    type=click.Path(dir_okay=False, path_type=Path),
    default=NJS_MODULE,
    show_default=True,
)
@click.option("--nginx", "nginx_bin", default="nginx", show_default=True, help="nginx binary.")
@click.option("--check/--no-check", default=True, show_default=True, help="Run nginx -t.")
def edge_config_command(
    origins: tuple[str, ...],
    apis: tuple[str, ...],
    listen: str,
    cache_dir: Path,
    cache_size: str,
    keys_zone_size: str,
    segment_ttl: str,
    playlist_ttl: str,
    out: Path,
    prefix: Path | None,
    user: str | None,
    data_dir: Path | None,
    njs_module: Path,
    nginx_bin: str,
    check: bool,
) -> None:
    """Write the nginx configuration of the edge (cache) tier in front of ORIGINs.

    Playback tokens are verified at the edge (njs) with the same signing keys as the origins,
    read from the settings (REELSTREAM_SIGNING_KEYS, or the key generated in DATA_DIR/secrets).
    """
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    settings.prepare()
    keys = {kid: key.get_secret_value() for kid, key in settings.signing_keys.items()}
    try:
        config = edge_config(
            origins=origins,
            apis=apis,
            listen=listen,
            cache_dir=cache_dir,
            prefix=prefix if prefix is not None else out.absolute().parent,
            signing_keys=keys,
            cache_size=cache_size,
            keys_zone_size=keys_zone_size,
            segment_ttl=segment_ttl,
            playlist_ttl=playlist_ttl,
            user=user,
            njs_module=njs_module.absolute(),
        )
        files = render.write(config, out)
    except EdgeError as exc:
        raise click.UsageError(exc.message) from exc
    click.echo(f"wrote {files.conf_path} and {files.js_path} (signing keys: {', '.join(keys)})")
    if not check:
        return
    binary = render.find_nginx(nginx_bin)
    if binary is None:
        raise click.ClickException(f"{nginx_bin!r} not found: install nginx or pass --no-check")
    try:
        render.check(files.conf_path, config.prefix, binary)
    except EdgeError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"nginx -t: configuration OK; start with: nginx -c {files.conf_path}")
