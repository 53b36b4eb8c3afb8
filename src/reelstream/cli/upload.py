"""``reelstream upload FILE``: a resumable tus upload with a progress bar.

The upload URL of each file is remembered (tuspy's ``FileStorage``, a small JSON file in the
user's data folder, ``$REELSTREAM_CLIENT_STATE/uploads.json`` when that is set). Running the same
command again after an interruption asks the server how many bytes it holds (``HEAD``) and
continues from there; an upload the server no longer knows (expired, deleted) starts over.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError
from tusclient.storage.filestorage import FileStorage

from reelstream.cli.remote import (
    ServerError,
    auth_headers,
    server_message,
    server_option,
    token_option,
    unreachable,
)

VISIBILITIES = ("public", "unlisted", "private")
UPLOADS_PATH = "/api/v1/uploads"
DEFAULT_CHUNK = 5 * 1024 * 1024
_GONE = {403, 404, 410}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMG]?)(?:i?B)?\s*$", re.IGNORECASE)


class ByteSize(click.ParamType[int]):
    """``65536``, ``256K``, ``5M``, ``1G`` (binary multiples)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE_RE.fullmatch(str(value))
        if not match:
            self.fail(f"{value!r} is not a size like 262144, 256K or 5M", param, ctx)
        number, unit = int(match.group(1)), match.group(2).upper()
        size = number * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]
        if size < 1:
            self.fail("the chunk size must be at least one byte", param, ctx)
        return size


def state_dir() -> Path:
    """Where the client keeps its state: ``$REELSTREAM_CLIENT_STATE`` or the XDG data folder."""
    override = os.environ.get("REELSTREAM_CLIENT_STATE")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "reelstream"


def fingerprint(path: Path, server: str) -> str:
    """Identifies one file's upload to one server: path, size, mtime and the first 1 MiB."""
    st = path.stat()
    head = hashlib.sha256()
    with path.open("rb") as fh:
        head.update(fh.read(1024 * 1024))
    return f"{server}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{head.hexdigest()[:32]}"


def _video_key(upload_url: str) -> str:
    return f"video-id|{upload_url}"


@dataclass
class RemoteUpload:
    url: str
    offset: int
    video_id: str | None


def _tus_headers() -> dict[str, str]:
    return {"Tus-Resumable": "1.0.0"}


def _encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())


def create_upload(
    http: httpx.Client, endpoint: str, size: int, metadata: dict[str, str]
) -> RemoteUpload:
    """tus creation: returns the absolute upload URL and the new video's id."""
    headers = {
        **_tus_headers(),
        "Upload-Length": str(size),
        "Upload-Metadata": _encode_metadata(metadata),
    }
    r = http.post(endpoint, headers=headers)
    if r.status_code != 201 or "location" not in r.headers:
        raise ServerError(f"the server refused the upload: {server_message(r.status_code, r.text)}")
    url = str(httpx.URL(endpoint).join(r.headers["location"]))
    return RemoteUpload(url=url, offset=0, video_id=r.headers.get("video-id"))


def probe_upload(http: httpx.Client, url: str) -> RemoteUpload | None:
    """tus HEAD: the server's offset, or None when the server no longer has this upload."""
    r = http.head(url, headers=_tus_headers())
    if r.status_code in _GONE:
        return None
    if r.status_code != 200 or "upload-offset" not in r.headers:
        raise ServerError(f"cannot resume the upload: {server_message(r.status_code, r.text)}")
    return RemoteUpload(
        url=url, offset=int(r.headers["upload-offset"]), video_id=r.headers.get("video-id")
    )


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _send(uploader: Any, size: int, console: Console, label: str) -> None:
    with _progress(console) as progress:
        task = progress.add_task(label, total=size, completed=uploader.offset)
        while uploader.offset < size:
            uploader.upload_chunk()
            progress.update(task, completed=uploader.offset)


@click.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--title", default=None, help="Title of the video [the file name].")
@click.option("--visibility", type=click.Choice(VISIBILITIES), default="public", show_default=True)
@server_option
@click.option(
    "--chunk-size",
    type=ByteSize(),
    default=DEFAULT_CHUNK,
    show_default="5M",
    help="Bytes sent per request, e.g. 256K or 8M.",
)
@click.option("--retries", type=click.IntRange(0, 100), default=5, show_default=True)
@token_option("uploads need one (the write scope)")
def upload(
    file: Path,
    title: str | None,
    visibility: str,
    server: str,
    chunk_size: int,
    retries: int,
    token: str | None,
) -> None:
    """Upload FILE (resumable: run the same command again to continue an interrupted upload)."""
    console = Console(stderr=True)
    endpoint = f"{server}{UPLOADS_PATH}"
    size = file.stat().st_size
    metadata = {"filename": file.name, "title": title or file.stem, "visibility": visibility}

    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    storage = FileStorage(str(folder / "uploads.json"))  # type: ignore[no-untyped-call]
    key = fingerprint(file, server)
    try:
        with httpx.Client(timeout=60, headers=auth_headers(token)) as http:
            try:
                remote = _resume_or_create(http, storage, key, endpoint, size, metadata, console)
            except httpx.HTTPError as exc:
                raise unreachable(server, exc) from None

        with file.open("rb") as stream:
            uploader = tus_client.TusClient(endpoint, headers=auth_headers(token)).uploader(
                file_stream=stream, chunk_size=chunk_size, retries=retries, retry_delay=1
            )
            uploader.set_url(remote.url)
            uploader.offset = remote.offset
            try:
                _send(uploader, size, console, file.name)
            except TusCommunicationError as exc:
                raise _upload_error(exc, server, storage, key, remote) from None
            except KeyboardInterrupt:
                raise ServerError(
                    f"interrupted at {uploader.offset} of {size} bytes; "
                    "run the same command again to resume"
                ) from None

        storage.remove_item(key)
        storage.remove_item(_video_key(remote.url))
    finally:
        storage.close()  # type: ignore[no-untyped-call]

    video_id = remote.video_id
    console.print(f"[green]uploaded[/green] {file.name} ({size} bytes)")
    if video_id:
        click.echo(f"video  {video_id}")
        click.echo(f"watch  {server}/watch/{video_id}")
    else:
        click.echo(f"upload {remote.url}")


def _resume_or_create(
    http: httpx.Client,
    storage: FileStorage,
    key: str,
    endpoint: str,
    size: int,
    metadata: dict[str, str],
    console: Console,
) -> RemoteUpload:
    known_url: str | None = storage.get_item(key)
    if known_url:
        remote = probe_upload(http, known_url)
        if remote is not None:
            remote.video_id = remote.video_id or storage.get_item(_video_key(known_url))
            console.print(f"resuming at {remote.offset} of {size} bytes")
            return remote
        console.print("the server no longer has the earlier upload of this file; starting over")
        storage.remove_item(key)
        storage.remove_item(_video_key(known_url))
    remote = create_upload(http, endpoint, size, metadata)
    storage.set_item(key, remote.url)
    if remote.video_id:
        storage.set_item(_video_key(remote.url), remote.video_id)
    return remote


def _upload_error(
    exc: TusCommunicationError,
    server: str,
    storage: FileStorage,
    key: str,
    remote: RemoteUpload,
) -> ServerError:
    status: int | None = exc.status_code
    if status is None:
        return ServerError(
            f"lost the connection to {server} ({exc}); run the same command again to resume"
        )
    if status in _GONE:
        storage.remove_item(key)
        storage.remove_item(_video_key(remote.url))
    return ServerError(f"the upload failed: {server_message(status, exc.response_content)}")
