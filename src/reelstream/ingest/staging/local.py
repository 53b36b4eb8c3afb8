"""Staging on local disk: a file per upload, where its bytes wait until it is complete.

Layout under ``settings.resolved_upload_dir``::

    {upload_id}          the bytes received so far (only the first ``uploads.offset`` count)
    {upload_id}.chunk    a checksummed chunk being received, appended once verified

Writers hold an exclusive ``flock`` on the data file for the whole request (non-blocking: a
second writer gets ``UploadLocked``), which serialises writers across processes sharing the
folder. ``StagingArea`` and its files block; ``LocalStaging`` (the ``Staging`` backend) runs
them with ``anyio.to_thread``. A PATCH writes straight into the data file at the committed
offset, fsyncs, then commits the offset; with a checksum it receives into the side file,
verifies, then appends. Completion moves the data file into the blob store.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread

from reelstream.db.models import Upload
from reelstream.fsutil import fsync_dir
from reelstream.ids import is_valid_id
from reelstream.ingest.errors import (
    BodyInterrupted,
    ChecksumMismatch,
    UploadExpired,
    UploadLocked,
    UploadNotFound,
    UploadTooLarge,
)
from reelstream.ingest.sources import upload_source_key
from reelstream.ingest.staging.base import (
    WRITE_BUFFER,
    Committer,
    StagedBytes,
    Staging,
    UploadRows,
)
from reelstream.ingest.tus import Checksum
from reelstream.storage.base import BlobInfo, BlobStore
from reelstream.storage.errors import BlobNotFound

log = logging.getLogger(__name__)

COPY_BLOCK = 1024 * 1024

CHECKPOINT_BYTES = 64 * 1024 * 1024
"""During a long PATCH of known length, fsync and commit the offset this often, so a crash
loses at most this much of a large request."""


class StagingArea:
    def __init__(self, root: Path) -> None:
        self.root = root

    def data_path(self, upload_id: str) -> Path:
        if not is_valid_id(upload_id):
            raise UploadNotFound(f"no upload {upload_id!r}")
        return self.root / upload_id

    def chunk_path(self, upload_id: str) -> Path:
        return self.data_path(upload_id).with_name(f"{upload_id}.chunk")

    def create(self, upload_id: str) -> None:
        """Create the empty data file durably (file and directory entry)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_path(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.root)

    def exists(self, upload_id: str) -> bool:
        return self.data_path(upload_id).is_file()

    def remove(self, upload_id: str) -> None:
        for path in (self.data_path(upload_id), self.chunk_path(upload_id)):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            fsync_dir(self.root)

    def open_locked(self, upload_id: str) -> StagingFile | None:
        """Open and lock the data file; None when it does not exist (any more).

        Raises ``UploadLocked`` when another request holds the lock.
        """
        path = self.data_path(upload_id)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UploadLocked(
                f"upload {upload_id} is being written by another request; retry shortly"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # The file may have been moved into the blob store while we waited for the lock: then
        # our descriptor points at the moved file, not at a staging file.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return None
        return StagingFile(self, upload_id, fd)


class StagingFile:
    """A locked, open staging data file. Closing it releases the lock."""

    def __init__(self, area: StagingArea, upload_id: str, fd: int) -> None:
        self.area = area
        self.upload_id = upload_id
        self.fd = fd
        self.path = area.data_path(upload_id)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self, size: int) -> None:
        """Drop any bytes past ``size`` (never acknowledged) and make that durable."""
        if self.size() != size:
            os.ftruncate(self.fd, size)
            os.fsync(self.fd)

    def write_at(self, position: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, position)
            position += written
            view = view[written:]

    def sync(self) -> None:
        os.fsync(self.fd)

    def append_file(self, source: Path, position: int) -> int:
        """Copy ``source`` into this file at ``position``; returns the bytes copied."""
        copied = 0
        with source.open("rb") as src:
            while block := src.read(COPY_BLOCK):
                self.write_at(position + copied, block)
                copied += len(block)
        return copied

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # releases the flock
            self.fd = -1


class ChunkFile:
    """The side file a checksummed chunk is received into before it is verified."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.size = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.size += len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class LocalStaging(Staging):
    """The ``Staging`` backend on local disk (see the module docstring)."""

    def __init__(self, root: Path, store: BlobStore) -> None:
        self.area = StagingArea(root)
        self.store = store

    async def create(self, upload_id: str) -> None:
        await anyio.to_thread.run_sync(self.area.create, upload_id)

    async def abandon(self, upload_id: str) -> None:
        await anyio.to_thread.run_sync(self.area.remove, upload_id)

    @contextlib.asynccontextmanager
    async def hold(self, upload: Upload, *, write: bool) -> AsyncIterator[LocalBytes]:
        """The locked data file (the flock); without ``write`` the file may be gone (moved
        by a completion that did not get to commit)."""
        handle = await anyio.to_thread.run_sync(self.area.open_locked, upload.id)
        if handle is None and write:
            handle = await self._restage(upload)
        try:
            yield LocalBytes(self, handle)
        finally:
            if handle is not None:
                await anyio.to_thread.run_sync(handle.close)

    async def _restage(self, upload: Upload) -> StagingFile:
        """The staging file is missing: recreate it when no byte was acknowledged yet."""
        if upload.offset != 0:
            raise UploadExpired(f"the bytes of upload {upload.id} are gone; start a new upload")
        with contextlib.suppress(FileExistsError):
            await anyio.to_thread.run_sync(self.area.create, upload.id)
        handle = await anyio.to_thread.run_sync(self.area.open_locked, upload.id)
        if handle is None:
            raise UploadLocked(f"upload {upload.id} is changing; retry shortly")
        return handle

    async def remove(self, upload: Upload) -> None:
        await anyio.to_thread.run_sync(self.area.remove, upload.id)

    async def sweep(self, cutoff: float, rows: UploadRows) -> None:
        """Remove staging files with no upload row, last written before ``cutoff``."""
        await self._remove_rowless(rows, cutoff)

    async def discard_video(self, video_id: str, rows: UploadRows) -> None:
        """Files carry no video id: remove every staging file with no upload row. (One of an
        upload being created is empty, and its first PATCH stages it anew.)"""
        await self._remove_rowless(rows, None)

    async def _remove_rowless(self, rows: UploadRows, cutoff: float | None) -> None:
        root = self.area.root

        def files() -> set[str]:
            found: set[str] = set()
            if not root.is_dir():
                return found
            for path in root.iterdir():
                uid = path.name.removesuffix(".chunk")
                with contextlib.suppress(FileNotFoundError):
                    if is_valid_id(uid) and (cutoff is None or path.stat().st_mtime < cutoff):
                        found.add(uid)
            return found

        candidates = await anyio.to_thread.run_sync(files)
        if not candidates:
            return
        for uid in candidates - await rows.existing_ids(candidates):
            log.info("removing orphan staging file(s) of %s", uid)
            await anyio.to_thread.run_sync(self.area.remove, uid)


class LocalBytes(StagedBytes):
    """A request's hold on an upload's staging file (``file`` None: the file is gone)."""

    def __init__(self, staging: LocalStaging, file: StagingFile | None) -> None:
        self.staging = staging
        self.file = file

    async def receive(
        self,
        upload: Upload,
        body: AsyncIterator[bytes],
        content_length: int | None,
        checksum: Checksum | None,
        commit: Committer,
    ) -> None:
        handle = self.file
        assert handle is not None, "hold(write=True) always yields a staging file"
        # Bytes past the committed offset were never acknowledged: drop them.
        await anyio.to_thread.run_sync(handle.truncate, upload.offset)
        if checksum is None:
            await self._receive(handle, upload, body, content_length, commit)
        else:
            await self._receive_checked(handle, upload, body, checksum, commit)

    @staticmethod
    async def _commit(
        handle: StagingFile, commit: Committer, upload: Upload, old: int, new: int
    ) -> int:
        """fsync, then move the offset from ``old`` to ``new``."""
        if new == old:
            return old
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(handle.sync)
            await commit(upload.id, old, new)
        return new

    async def _receive(
        self,
        handle: StagingFile,
        upload: Upload,
        body: AsyncIterator[bytes],
        content_length: int | None,
        commit: Committer,
    ) -> None:
        """Stream the body straight into the staging file; keep what arrived on a disconnect."""
        start = committed = pos = upload.offset
        buf = bytearray()
        checkpoints = content_length is not None
        try:
            async for data in body:
                if pos + len(buf) + len(data) > upload.length:
                    buf.clear()
                    await anyio.to_thread.run_sync(handle.truncate, committed)
                    raise UploadTooLarge(
                        f"the body goes past Upload-Length {upload.length}; nothing was written"
                    )
                buf += data
                if len(buf) >= WRITE_BUFFER:
                    await anyio.to_thread.run_sync(handle.write_at, pos, bytes(buf))
                    pos += len(buf)
                    buf.clear()
                    if checkpoints and pos - committed >= CHECKPOINT_BYTES:
                        committed = await self._commit(handle, commit, upload, committed, pos)
        except BodyInterrupted:
            log.info("upload %s: client went away at offset %d", upload.id, pos + len(buf))
        if buf:
            await anyio.to_thread.run_sync(handle.write_at, pos, bytes(buf))
            pos += len(buf)
        committed = await self._commit(handle, commit, upload, committed, pos)
        log.debug("upload %s: %d durable bytes", upload.id, committed - start)

    async def _receive_checked(
        self,
        handle: StagingFile,
        upload: Upload,
        body: AsyncIterator[bytes],
        checksum: Checksum,
        commit: Committer,
    ) -> None:
        """Receive into a side file, verify the checksum, then append to the staging file."""
        start = upload.offset
        chunk = await anyio.to_thread.run_sync(ChunkFile, self.staging.area.chunk_path(upload.id))
        hasher = checksum.hasher()

        def spill(data: bytes) -> None:
            hasher.update(data)
            chunk.write(data)

        try:
            buf = bytearray()
            try:
                async for data in body:
                    if start + chunk.size + len(buf) + len(data) > upload.length:
                        raise UploadTooLarge(
                            f"the body goes past Upload-Length {upload.length}; nothing was written"
                        )
                    buf += data
                    if len(buf) >= WRITE_BUFFER:
                        await anyio.to_thread.run_sync(spill, bytes(buf))
                        buf.clear()
            except BodyInterrupted:
                log.info("upload %s: client went away; unverified chunk discarded", upload.id)
                return
            if buf:
                await anyio.to_thread.run_sync(spill, bytes(buf))
            if not checksum.matches(hasher.digest()):
                raise ChecksumMismatch(
                    f"the {checksum.algorithm} checksum of the chunk does not match "
                    "Upload-Checksum; the chunk was discarded"
                )
            await anyio.to_thread.run_sync(chunk.close)
            copied = await anyio.to_thread.run_sync(handle.append_file, chunk.path, start)
        finally:
            await anyio.to_thread.run_sync(chunk.discard)
        await self._commit(handle, commit, upload, start, start + copied)

    async def store(self, upload: Upload) -> BlobInfo:
        """Move the staging file into the blob store; without one (moved by an earlier
        completion that did not get to commit) the stored source."""
        key = upload_source_key(upload)
        store = self.staging.store
        if self.file is not None:
            await anyio.to_thread.run_sync(self.file.truncate, upload.length)
            return await store.put_file(key, self.file.path, move=True)
        try:
            return await store.stat(key)
        except BlobNotFound as exc:
            raise UploadExpired(
                f"the bytes of upload {upload.id} are gone; start a new upload"
            ) from exc
