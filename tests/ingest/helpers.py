"""Small helpers shared by the ingest tests (the service on either staging backend, and the
HTTP tests)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
from sqlalchemy import update

from reelstream.db.models import Upload
from reelstream.ingest.errors import BodyInterrupted
from reelstream.ingest.service import UploadService, UploadState
from reelstream.ingest.tus import VideoMetadata
from reelstream.services import Services

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
META = VideoMetadata(filename="clip.mp4", title="clip", visibility="public")


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def metadata(**values: str) -> str:
    return ",".join(f"{k} {b64(v)}" for k, v in values.items())


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {b64(hashlib.new(algorithm, data).digest())}"


def patch_headers(offset: int, **extra: str) -> dict[str, str]:
    return {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS, **extra}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            h.update(block)
    return h.hexdigest()


# -- the upload service driven directly (no HTTP) -------------------------------------------


async def new_upload(svc: UploadService, length: int) -> UploadState:
    return await svc.create(length=length, metadata={}, video=META)


async def body(*chunks: bytes, interrupt: bool = False) -> AsyncIterator[bytes]:
    """A PATCH body: ``chunks``, then, with ``interrupt``, the client's connection drops."""
    for chunk in chunks:
        yield chunk
    if interrupt:
        raise BodyInterrupted


async def expire(services: Services, upload_id: str) -> None:
    """The upload's expiry passed a minute ago."""
    async with services.db.transaction() as s:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        await s.execute(update(Upload).where(Upload.id == upload_id).values(expires_at=past))


async def write_holding_lock(
    svc: UploadService, upload_id: str, data: bytes, during: Callable[[], Awaitable[None]]
) -> UploadState:
    """PATCH ``data`` at offset 0 in two halves and run ``during()`` in between, while this
    write is in progress (and holds the upload's lock); the state the write ends with."""
    half = len(data) // 2
    started, release = anyio.Event(), anyio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield data[:half]
        started.set()
        await release.wait()
        yield data[half:]

    results: list[UploadState] = []

    async def write() -> None:
        results.append(
            await svc.write(
                upload_id, offset=0, body=slow(), content_length=len(data), checksum=None
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(write)
        await started.wait()
        try:
            await during()
        finally:
            release.set()
    return results[0]
