"""In-memory blob store: the fake for unit tests, beside the interface it fakes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from reelstream.storage.base import BlobInfo, BlobStore
from reelstream.storage.errors import BlobNotFound
from reelstream.storage.keys import validate_key


class MemoryBlobStore(BlobStore):
    name = "memory"

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, float]] = {}

    def _info(self, key: str) -> BlobInfo:
        try:
            data, mtime = self._blobs[validate_key(key)]
        except KeyError as exc:
            raise BlobNotFound(f"no blob {key!r}") from exc
        etag = hashlib.blake2b(data, digest_size=8).hexdigest()
        return BlobInfo(key=key, size=len(data), etag=etag, mtime=mtime)

    async def put_file(self, key: str, path: Path, *, move: bool = False) -> BlobInfo:
        data = await anyio.Path(path).read_bytes()
        if move:
            await anyio.Path(path).unlink()
        return await self.put_bytes(key, data)

    async def put_bytes(self, key: str, data: bytes) -> BlobInfo:
        self._blobs[validate_key(key)] = (bytes(data), time.time())
        return self._info(key)

    async def copy(self, src: str, dest: str) -> BlobInfo:
        self._info(src)
        self._blobs[validate_key(dest)] = (self._blobs[src][0], time.time())
        return self._info(dest)

    async def get_bytes(self, key: str) -> bytes:
        self._info(key)
        return self._blobs[key][0]

    async def stat(self, key: str) -> BlobInfo:
        return self._info(key)

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        data = await self.get_bytes(key)
        stop = len(data) if end is None else min(end + 1, len(data))
        for pos in range(start, stop, chunk_size):
            yield data[pos : min(pos + chunk_size, stop)]

    async def list(self, prefix: str) -> list[BlobInfo]:
        validate_key(prefix)
        return [self._info(k) for k in sorted(self._blobs) if k.startswith(prefix + "/")]

    async def delete(self, key: str) -> None:
        self._blobs.pop(validate_key(key), None)
