"""Staging in the object store (the ``Staging`` backend for ``storage_backend == "s3"``).

api instances are stateless there: a tus upload may continue on any instance, so nothing of it
may live on one machine's disk between requests. Layout and state::

    S3 multipart upload into videos/{video_id}/source   parts 1..n, each exactly part_size
    uploads/{upload_id}/tail-{offset}                   the bytes after the last part
    uploads row: offset, multipart_id, parts [[number, etag, size], ...]

The row is the truth: ``offset`` = sum of the part sizes + the size of the tail object named
after that offset (so a tail written by a request that never committed is never read). A PATCH
reads the tail back into a local temp file (anonymous: gone with the process), appends the
body, uploads every full part as the next part number, and stores what is left as a new tail
object BEFORE it commits the offset; only then does the client hear the new offset. Without a
checksum the offset is also committed after each part (a part is durable once uploaded); with
one, nothing is committed until the checksum of the whole body matched (460 otherwise).
Completion: the final part (smaller than a part is fine) is uploaded, the offset committed,
then CompleteMultipartUpload and the usual completion transaction; a crash in between leaves
offset == length and the next HEAD/PATCH/janitor finishes it. The tails are removed after that
transaction; a crash before leaves them to the janitor's sweep, which removes the staged
leftovers of a complete upload at any age (``ObjectStaging.sweep``).

Locking: one writer per upload across instances, by a lease in the row (``lock_token``,
``locked_until``) taken with a conditional UPDATE and refreshed while a request runs; every
commit is fenced on the token. A second writer gets ``UploadLocked`` (423).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread

from reelstream.db import Database
from reelstream.db.base import utcnow
from reelstream.db.models import Upload
from reelstream.ingest import repository as repo
from reelstream.ingest.errors import (
    BodyInterrupted,
    ChecksumMismatch,
    UploadExpired,
    UploadFinished,
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
from reelstream.storage.base import BlobInfo
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.storage.keys import source_key
from reelstream.storage.s3 import S3BlobStore

log = logging.getLogger(__name__)

LOCK_LEASE_S = 30.0
"""How long a write lock lasts unless refreshed (a crashed instance blocks no longer)."""

LOCK_REFRESH_S = 10.0
"""A request holding the lock refreshes it this often while data arrives."""

MAX_PARTS = 10_000
"""S3's limit of parts per multipart upload."""


def staging_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}"


def tail_key(upload_id: str, offset: int) -> str:
    return f"{staging_prefix(upload_id)}/tail-{offset}"


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    size: int

    def as_row(self) -> list[Any]:
        return [self.number, self.etag, self.size]


def parts_of(upload: Upload) -> list[Part]:
    return [Part(int(n), str(e), int(size)) for n, e, size in upload.parts or []]


class PartBuffer:
    """The bytes of the part being assembled, in an anonymous local temp file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.file: IO[bytes] = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115
        self.size = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)

    def reset(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.size = 0

    def ready(self) -> IO[bytes]:
        """The file, flushed and rewound, for an upload of its whole content."""
        self.file.flush()
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        self.file.close()


class WriteLease:
    """The row-level write lock one request holds on an upload."""

    def __init__(self, db: Database, upload_id: str, token: str) -> None:
        self.db = db
        self.upload_id = upload_id
        self.token = token
        self.refreshed = time.monotonic()

    async def refresh(self, *, force: bool = False) -> None:
        """Extend the lease (when due); ``UploadLocked`` if another request took it over."""
        if not force and time.monotonic() - self.refreshed < LOCK_REFRESH_S:
            return
        async with self.db.transaction() as s:
            ok = await repo.refresh_lease(s, self.upload_id, self.token, _lease_end())
        if not ok:
            raise UploadLocked(f"upload {self.upload_id} was taken over by another request")
        self.refreshed = time.monotonic()

    async def release(self) -> None:
        with anyio.CancelScope(shield=True):
            try:
                async with self.db.transaction() as s:
                    await repo.release_lease(s, self.upload_id, self.token)
            except Exception as exc:  # the lease then simply runs out
                log.warning("upload %s: could not release the write lock: %s", self.upload_id, exc)


def _lease_end() -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=LOCK_LEASE_S)


class ObjectStaging(Staging):
    """The ``Staging`` backend in the object store (see the module docstring)."""

    def __init__(self, db: Database, store: S3BlobStore, part_size: int, buffer_dir: Path) -> None:
        self.db = db
        self.store = store
        self.part_size = part_size
        self.buffer_dir = buffer_dir

    def check_length(self, length: int) -> None:
        if -(-length // self.part_size) > MAX_PARTS:
            raise UploadTooLarge(
                f"Upload-Length {length} needs more than {MAX_PARTS} parts of "
                f"{self.part_size} bytes (raise s3_part_size)"
            )

    async def started(self, upload: Upload) -> None:
        """Start the multipart upload into the source key and record it in the row."""
        multipart_id = await self.store.create_multipart(upload_source_key(upload))
        async with self.db.transaction() as s:
            await repo.record_multipart(s, upload.id, multipart_id)
        upload.multipart_id = multipart_id

    @contextlib.asynccontextmanager
    async def hold(self, upload: Upload, *, write: bool) -> AsyncIterator[ObjectBytes]:
        """Hold the upload's write lease for the block; ``UploadLocked`` when taken,
        ``UploadFinished`` when complete, ``UploadNotFound`` when gone."""
        token = secrets.token_hex(16)
        async with self.db.transaction() as s:
            taken = await repo.take_lease(s, upload.id, token, now=utcnow(), until=_lease_end())
        if not taken:
            async with self.db.read(primary=True) as s:
                row = await repo.get(s, upload.id)
            if row is None:
                raise UploadNotFound(f"no upload {upload.id!r}")
            if row.completed_at is not None:
                raise UploadFinished(f"upload {upload.id} is complete")
            raise UploadLocked(
                f"upload {upload.id} is being written by another request; retry shortly"
            )
        lease = WriteLease(self.db, upload.id, token)
        try:
            yield ObjectBytes(self, lease)
        finally:
            await lease.release()

    async def remove(self, upload: Upload) -> None:
        """Abort the multipart upload and delete the tails (the row is gone already)."""
        if upload.multipart_id:
            await self.store.abort_multipart(upload_source_key(upload), upload.multipart_id)
        await self.remove_tails(upload.id)

    async def remove_tails(self, upload_id: str) -> None:
        try:
            await self.store.delete_prefix(staging_prefix(upload_id))
        except StorageError as exc:  # the janitor's orphan sweep retries
            log.warning("upload %s: staged tails not removed: %s", upload_id, exc)

    async def sweep(self, cutoff: float, rows: UploadRows) -> None:
        """Remove staged leftovers nothing will read again (see ``Staging.sweep``):

        * tails and multipart uploads older than ``cutoff`` with no upload row (their video
          was deleted while uploading, or a request crashed after creating them);
        * at any age, the tails of a complete upload (a crash between the completion
          transaction and ``stored``, or a superseded tail whose delete failed). Nothing reads
          a tail once ``completed_at`` is committed: no lease is granted on a complete upload,
          and the source was stored (the multipart upload completed) before that commit. An
          upload still completing has no ``completed_at`` yet, so its tails stay.

        A complete upload keeps no multipart upload in progress (the completion transaction
        commits only after CompleteMultipartUpload, or the empty upload's abort, returned).
        """
        try:
            tails = await self.store.list("uploads")
            multiparts = [
                m for m in await self.store.list_multipart("videos") if m.initiated < cutoff
            ]
        except StorageError as exc:
            log.warning("orphan sweep skipped: %s", exc)
            return
        old_ids = {b.key.split("/")[1] for b in tails if b.mtime < cutoff}
        rowless = old_ids - await rows.existing_ids(old_ids)
        completed = await rows.completed_ids({b.key.split("/")[1] for b in tails})
        known_multiparts = await rows.existing_multipart_ids([m.upload_id for m in multiparts])
        for uid in sorted(rowless | completed):
            log.info("removing leftover staged tails of upload %s", uid)
            await self.remove_tails(uid)
        for mp in multiparts:
            if mp.upload_id not in known_multiparts:
                log.info("aborting orphan multipart upload of %s", mp.key)
                await self._abort(mp.key, mp.upload_id)

    async def discard_video(self, video_id: str, rows: UploadRows) -> None:
        """Abort every multipart upload into the video's source keys, and remove the tails
        that belong to no upload row (a tail is only written under the lease of a live row,
        so one without a row is garbage at any age)."""
        try:
            multiparts = await self.store.list_multipart(source_key(video_id))
            tails = await self.store.list("uploads")
        except StorageError as exc:
            log.warning("video %s: staged leftovers not removed: %s", video_id, exc)
            return
        base = source_key(video_id)
        for mp in multiparts:  # the source's, and those of replacements (``source.{upload}``)
            if mp.key == base or mp.key.startswith(f"{base}."):
                await self._abort(mp.key, mp.upload_id)
        tail_ids = {b.key.split("/")[1] for b in tails}
        for uid in tail_ids - await rows.existing_ids(tail_ids):
            await self.remove_tails(uid)

    async def _abort(self, key: str, multipart_id: str) -> None:
        try:
            await self.store.abort_multipart(key, multipart_id)
        except StorageError as exc:
            log.warning("orphan multipart upload of %s not aborted: %s", key, exc)


class ObjectBytes(StagedBytes):
    """A request's hold (the write lease) on an upload staged in the object store."""

    def __init__(self, staging: ObjectStaging, lease: WriteLease) -> None:
        self.staging = staging
        self.s3 = staging.store
        self.lease = lease

    async def _multipart_id(self, upload: Upload) -> str:
        """The upload's multipart upload, started now when creation could not record it."""
        if upload.multipart_id:
            return upload.multipart_id
        key = upload_source_key(upload)
        multipart_id = await self.s3.create_multipart(key)
        async with self.staging.db.transaction() as s:
            ok = await repo.record_multipart(s, upload.id, multipart_id, token=self.lease.token)
        if not ok:
            await self.s3.abort_multipart(key, multipart_id)
            raise UploadLocked(f"upload {upload.id} changed during this request; retry")
        upload.multipart_id = multipart_id
        return multipart_id

    async def receive(
        self,
        upload: Upload,
        body: AsyncIterator[bytes],
        content_length: int | None,
        checksum: Checksum | None,
        commit: Committer,
    ) -> None:
        """Append the body to the staged upload; commits the offsets it makes durable."""
        key = upload_source_key(upload)
        lease = self.lease
        part_size = self.staging.part_size
        committed = upload.offset
        parts = parts_of(upload)  # committed parts
        pending: list[Part] = []  # uploaded, waiting for the checksum
        old_tail = committed - sum(p.size for p in parts)
        tail_at: int | None = committed if old_tail else None
        buf = await anyio.to_thread.run_sync(PartBuffer, self.staging.buffer_dir)

        async def commit_parts(old: int, new: int, with_parts: list[Part]) -> None:
            """Move the offset with these parts (fenced on the lease), then drop the tail
            the commit superseded."""
            with anyio.CancelScope(shield=True):
                values = {"parts": [p.as_row() for p in with_parts], "locked_until": _lease_end()}
                await commit(upload.id, old, new, token=lease.token, values=values)
                lease.refreshed = time.monotonic()
                if tail_at is not None:  # superseded; a leftover goes with the prefix later
                    try:
                        await self.s3.delete(tail_key(upload.id, tail_at))
                    except StorageError as exc:
                        log.warning("upload %s: old tail not removed: %s", upload.id, exc)

        try:
            if tail_at is not None:
                await self._load_tail(upload, tail_at, old_tail, buf)
            multipart_id = await self._multipart_id(upload)
            hasher = checksum.hasher() if checksum else None
            received = 0
            mem = bytearray()

            async def spill() -> None:
                if mem:
                    await anyio.to_thread.run_sync(buf.write, bytes(mem))
                    mem.clear()

            async def flush_part() -> None:
                nonlocal committed, tail_at
                await lease.refresh(force=True)
                number = len(parts) + len(pending) + 1
                etag = await self.s3.upload_part(key, multipart_id, number, buf.ready())
                part = Part(number, etag, buf.size)
                await anyio.to_thread.run_sync(buf.reset)
                if hasher is not None:
                    pending.append(part)
                    return
                parts.append(part)
                new = sum(p.size for p in parts)
                await commit_parts(committed, new, parts)
                committed, tail_at = new, None

            try:
                async for data in body:
                    if upload.offset + received + len(data) > upload.length:
                        raise UploadTooLarge(
                            f"the body goes past Upload-Length {upload.length}; "
                            f"the offset stays at {committed}"
                        )
                    if hasher is not None:
                        hasher.update(data)
                    received += len(data)
                    view = memoryview(data)
                    while view:
                        room = part_size - buf.size - len(mem)
                        mem += view[:room]
                        view = view[room:]
                        if buf.size + len(mem) == part_size:
                            await spill()
                            await flush_part()
                        elif len(mem) >= WRITE_BUFFER:
                            await spill()
                    await lease.refresh()
            except BodyInterrupted:
                if hasher is not None:
                    log.info("upload %s: client went away; unverified chunk discarded", upload.id)
                    return
                log.info("upload %s: client went away after %d bytes", upload.id, received)
            await spill()
            if hasher is not None and checksum and not checksum.matches(hasher.digest()):
                raise ChecksumMismatch(
                    f"the {checksum.algorithm} checksum of the chunk does not match "
                    "Upload-Checksum; the chunk was discarded"
                )
            new = upload.offset + received
            if new == committed:
                return
            if new == upload.length:
                if buf.size:
                    await flush_part()  # the last part may be smaller than a part
                await commit_parts(committed, new, parts + pending)
                return
            await lease.refresh(force=True)
            if buf.size:
                await self.s3.put_fileobj(tail_key(upload.id, new), buf.ready())
            await commit_parts(committed, new, parts + pending)
        finally:
            await anyio.to_thread.run_sync(buf.close)

    async def _load_tail(self, upload: Upload, offset: int, size: int, buf: PartBuffer) -> None:
        key = tail_key(upload.id, offset)
        try:
            async for chunk in self.s3.iter_range(key, chunk_size=1024 * 1024):
                await anyio.to_thread.run_sync(buf.write, chunk)
        except BlobNotFound as exc:
            raise UploadExpired(
                f"the staged bytes of upload {upload.id} are gone; start a new upload"
            ) from exc
        if buf.size != size:
            raise StorageError(
                f"the staged tail of upload {upload.id} has {buf.size} bytes, expected {size}"
            )

    async def store(self, upload: Upload) -> BlobInfo:
        """Join the parts into ``videos/{vid}/source``."""
        key = upload_source_key(upload)
        parts = parts_of(upload)
        if not parts:  # an empty upload: no multipart object can be empty
            info = await self.s3.put_bytes(key, b"")
            if upload.multipart_id:
                await self.s3.abort_multipart(key, upload.multipart_id)
            return info
        if not upload.multipart_id:
            raise UploadExpired(f"upload {upload.id} has no multipart upload; start anew")
        await self.lease.refresh(force=True)
        try:
            return await self.s3.complete_multipart(
                key, upload.multipart_id, [(p.number, p.etag) for p in parts]
            )
        except BlobNotFound:
            # completed by an earlier request that did not get to commit (or aborted)
            try:
                return await self.s3.stat(key)
            except BlobNotFound as exc:
                raise UploadExpired(
                    f"the bytes of upload {upload.id} are gone; start a new upload"
                ) from exc

    async def stored(self, upload: Upload) -> None:
        await self.staging.remove_tails(upload.id)
