"""The blob store interface every backend implements.

Keys and their layout are ``reelstream.storage.keys``; every backend checks a key with
``keys.validate_key`` before it touches anything, so no key can escape a backend's root.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    etag: str
    mtime: float


class BlobStore(abc.ABC):
    """Where sources and renditions live. All methods raise ``StorageError`` subclasses."""

    name: str

    @abc.abstractmethod
    async def put_file(self, key: str, path: Path, *, move: bool = False) -> BlobInfo:
        """Store the local file ``path`` under ``key`` durably. ``move`` lets the backend take
        the file (a rename on local disk); the caller must not use ``path`` afterwards."""

    @abc.abstractmethod
    async def put_bytes(self, key: str, data: bytes) -> BlobInfo: ...

    @abc.abstractmethod
    async def get_bytes(self, key: str) -> bytes: ...

    @abc.abstractmethod
    async def stat(self, key: str) -> BlobInfo: ...

    @abc.abstractmethod
    def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        """Yield bytes ``start`` .. ``end`` inclusive (``end`` None: to the end)."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> list[BlobInfo]:
        """Every blob whose key starts with ``prefix + '/'``."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete one blob; deleting a missing blob is not an error."""

    async def copy(self, src: str, dest: str) -> BlobInfo:
        """Store a copy of blob ``src`` under ``dest`` (server-side where the backend can).
        The base implementation reads the blob through this process."""
        return await self.put_bytes(dest, await self.get_bytes(src))

    async def delete_prefix(self, prefix: str) -> int:
        blobs = await self.list(prefix)
        for blob in blobs:
            await self.delete(blob.key)
        return len(blobs)

    async def fetch_to(self, key: str, path: Path) -> None:
        """Copy a blob into a local file (for ffmpeg, which reads local files only). The file
        is opened and written in worker threads, so a slow disk never blocks the event loop."""
        async with await anyio.open_file(path, "wb") as fh:
            async for chunk in self.iter_range(key):
                await fh.write(chunk)

    def local_path(self, key: str) -> Path | None:
        """The blob's path on this machine's disk when the backend has one (zero-copy serving)."""
        return None

    async def open(self) -> None:
        """Prepare the backend (for example create the bucket); called once at start."""
        return None

    async def close(self) -> None:
        """Release connections."""
        return None

    async def ping(self) -> None:
        """Raise ``StorageError`` when the backend cannot be used."""
        await self.list("healthcheck")
