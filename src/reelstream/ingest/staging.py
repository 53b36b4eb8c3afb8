"""Staging files: where a tus upload's bytes wait until the upload is complete.

Layout under ``settings.resolved_upload_dir``::

    {upload_id}          the bytes received so far (only the first ``uploads.offset`` count)
    {upload_id}.chunk    a checksummed chunk being received, appended once verified

Writers hold an exclusive ``flock`` on the data file for the whole request (non-blocking: a
second writer gets ``UploadLocked``), which serialises writers across processes sharing the
folder. The methods here block; callers run them with ``anyio.to_thread``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from reelstream.fsutil import fsync_dir
from reelstream.ids import is_valid_id
from reelstream.ingest.errors import UploadLocked, UploadNotFound

COPY_BLOCK = 1024 * 1024


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
