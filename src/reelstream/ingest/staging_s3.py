"""tus staging in the object store, for ``storage_backend == "s3"``.

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
offset == length and the next HEAD/PATCH/janitor finishes it.

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
from sqlalchemy import or_, select, update

from reelstream.db.base import utcnow
from reelstream.db.models import Upload
from reelstream.errors import ConfigError
from reelstream.ids import new_id
from reelstream.ingest.errors import (
    ChecksumMismatch,
    OffsetMismatch,
    UploadExpired,
    UploadFinished,
    UploadLocked,
    UploadNotFound,
    UploadTooLarge,
)
from reelstream.ingest.service import (
    WRITE_BUFFER,
    BodyInterrupted,
    UploadService,
    UploadState,
    _rowcount,
)
from reelstream.ingest.tus import Checksum, VideoMetadata
from reelstream.services import Services
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

    def __init__(self, uploads: ObjectStagedUploads, upload_id: str, token: str) -> None:
        self.uploads = uploads
        self.upload_id = upload_id
        self.token = token
        self.refreshed = time.monotonic()

    async def refresh(self, *, force: bool = False) -> None:
        """Extend the lease (when due); ``UploadLocked`` if another request took it over."""
        if not force and time.monotonic() - self.refreshed < LOCK_REFRESH_S:
            return
        async with self.uploads.db.transaction() as s:
            res = await s.execute(
                update(Upload)
                .where(Upload.id == self.upload_id, Upload.lock_token == self.token)
                .values(locked_until=_lease_end())
            )
        if _rowcount(res) != 1:
            raise UploadLocked(f"upload {self.upload_id} was taken over by another request")
        self.refreshed = time.monotonic()

    async def release(self) -> None:
        with anyio.CancelScope(shield=True):
            try:
                async with self.uploads.db.transaction() as s:
                    await s.execute(
                        update(Upload)
                        .where(Upload.id == self.upload_id, Upload.lock_token == self.token)
                        .values(lock_token=None, locked_until=None)
                    )
            except Exception as exc:  # the lease then simply runs out
                log.warning("upload %s: could not release the write lock: %s", self.upload_id, exc)


def _lease_end() -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=LOCK_LEASE_S)


class ObjectStagedUploads(UploadService):
    """``UploadService`` whose staging is the object store (see the module docstring)."""

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        if not isinstance(services.store, S3BlobStore):
            raise ConfigError("object-store staging needs the S3 blob store")
        self.store: S3BlobStore = services.store
        self.part_size = services.settings.s3_part_size
        self.buffer_dir = services.settings.resolved_upload_dir

    # -- locking

    @contextlib.asynccontextmanager
    async def _locked(self, upload_id: str) -> AsyncIterator[WriteLease]:
        """Hold the upload's write lease for the block; ``UploadLocked`` when taken."""
        token = secrets.token_hex(16)
        now = utcnow()
        async with self.db.transaction() as s:
            res = await s.execute(
                update(Upload)
                .where(
                    Upload.id == upload_id,
                    Upload.completed_at.is_(None),
                    or_(Upload.locked_until.is_(None), Upload.locked_until < now),
                )
                .values(lock_token=token, locked_until=_lease_end())
            )
        if _rowcount(res) != 1:
            upload = await self._load(upload_id)  # UploadNotFound when gone
            if upload.completed_at is not None:
                raise UploadFinished(f"upload {upload_id} is complete")
            raise UploadLocked(
                f"upload {upload_id} is being written by another request; retry shortly"
            )
        lease = WriteLease(self, upload_id, token)
        try:
            yield lease
        finally:
            await lease.release()

    # -- creation

    async def create(
        self,
        *,
        length: int,
        metadata: dict[str, str],
        video: VideoMetadata,
        owner_id: str | None = None,
    ) -> UploadState:
        """The rows, then the multipart upload into the source key (rows removed on failure)."""
        if -(-length // self.part_size) > MAX_PARTS:
            raise UploadTooLarge(
                f"Upload-Length {length} needs more than {MAX_PARTS} parts of "
                f"{self.part_size} bytes (raise s3_part_size)"
            )
        upload_id = new_id()
        upload = await self._create_rows(upload_id, length, metadata, video, owner_id)
        try:
            multipart_id = await self.store.create_multipart(source_key(upload.video_id))
            async with self.db.transaction() as s:
                await s.execute(
                    update(Upload)
                    .where(Upload.id == upload_id, Upload.multipart_id.is_(None))
                    .values(multipart_id=multipart_id)
                )
            upload.multipart_id = multipart_id
        except Exception:
            with anyio.CancelScope(shield=True):
                await self._discard(upload, expired_only=False)
            raise
        self.services.metrics.uploads_created.inc()
        log.info(
            "upload %s created for video %s (%d bytes, S3)", upload_id, upload.video_id, length
        )
        return UploadState.of(upload)

    async def _multipart_id(self, upload: Upload, lease: WriteLease) -> str:
        """The upload's multipart upload, started now when creation could not record it."""
        if upload.multipart_id:
            return upload.multipart_id
        multipart_id = await self.store.create_multipart(source_key(upload.video_id))
        async with self.db.transaction() as s:
            res = await s.execute(
                update(Upload)
                .where(
                    Upload.id == upload.id,
                    Upload.lock_token == lease.token,
                    Upload.multipart_id.is_(None),
                )
                .values(multipart_id=multipart_id)
            )
        if _rowcount(res) != 1:
            await self.store.abort_multipart(source_key(upload.video_id), multipart_id)
            raise UploadLocked(f"upload {upload.id} changed during this request; retry")
        upload.multipart_id = multipart_id
        return multipart_id

    # -- HEAD (and completion of an upload holding every byte)

    async def _recover(self, upload: Upload) -> UploadState:
        try:
            async with self._locked(upload.id) as lease:
                fresh = await self._load(upload.id)
                if fresh.completed_at is not None or fresh.offset != fresh.length:
                    return UploadState.of(fresh)
                return await self._complete_object(fresh, lease)
        except (UploadLocked, UploadFinished):
            return UploadState.of(await self._load(upload.id))

    # -- PATCH

    async def write(
        self,
        upload_id: str,
        *,
        offset: int,
        body: AsyncIterator[bytes],
        content_length: int | None,
        checksum: Checksum | None,
    ) -> UploadState:
        checked = await self._check_write(upload_id, offset, content_length)
        if isinstance(checked, UploadState):
            return checked
        upload = checked

        async with self._locked(upload_id) as lease:
            upload = await self._load(upload_id)  # the truth, now that we hold the lock
            if offset != upload.offset:
                raise OffsetMismatch(
                    f"Upload-Offset {offset} does not match the server's offset {upload.offset}"
                )
            await self._receive_object(upload, lease, body, checksum)
            upload = await self._load(upload_id)
            if upload.offset == upload.length:
                return await self._complete_object(upload, lease)
            return UploadState.of(upload)

    async def _receive_object(
        self,
        upload: Upload,
        lease: WriteLease,
        body: AsyncIterator[bytes],
        checksum: Checksum | None,
    ) -> None:
        """Append the body to the staged upload; commits the offsets it makes durable."""
        key = source_key(upload.video_id)
        committed = upload.offset
        parts = parts_of(upload)  # committed parts
        pending: list[Part] = []  # uploaded, waiting for the checksum
        old_tail = committed - sum(p.size for p in parts)
        tail_at: int | None = committed if old_tail else None
        buf = await anyio.to_thread.run_sync(PartBuffer, self.buffer_dir)
        try:
            if tail_at is not None:
                await self._load_tail(upload, tail_at, old_tail, buf)
            multipart_id = await self._multipart_id(upload, lease)
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
                etag = await self.store.upload_part(key, multipart_id, number, buf.ready())
                part = Part(number, etag, buf.size)
                await anyio.to_thread.run_sync(buf.reset)
                if hasher is not None:
                    pending.append(part)
                    return
                parts.append(part)
                new = sum(p.size for p in parts)
                await self._commit_parts(upload, lease, committed, new, parts, tail_at)
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
                        room = self.part_size - buf.size - len(mem)
                        mem += view[:room]
                        view = view[room:]
                        if buf.size + len(mem) == self.part_size:
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
                all_parts = parts + pending
                await self._commit_parts(upload, lease, committed, new, all_parts, tail_at)
                return
            await lease.refresh(force=True)
            if buf.size:
                await self.store.put_fileobj(tail_key(upload.id, new), buf.ready())
            await self._commit_parts(upload, lease, committed, new, parts + pending, tail_at)
        finally:
            await anyio.to_thread.run_sync(buf.close)

    async def _load_tail(self, upload: Upload, offset: int, size: int, buf: PartBuffer) -> None:
        key = tail_key(upload.id, offset)
        try:
            async for chunk in self.store.iter_range(key, chunk_size=1024 * 1024):
                await anyio.to_thread.run_sync(buf.write, chunk)
        except BlobNotFound as exc:
            raise UploadExpired(
                f"the staged bytes of upload {upload.id} are gone; start a new upload"
            ) from exc
        if buf.size != size:
            raise StorageError(
                f"the staged tail of upload {upload.id} has {buf.size} bytes, expected {size}"
            )

    async def _commit_parts(
        self,
        upload: Upload,
        lease: WriteLease,
        old: int,
        new: int,
        parts: list[Part],
        old_tail_at: int | None,
    ) -> None:
        """Move the offset from ``old`` to ``new`` with these parts (fenced on the lease)."""
        with anyio.CancelScope(shield=True):
            async with self.db.transaction() as s:
                res = await s.execute(
                    update(Upload)
                    .where(
                        Upload.id == upload.id,
                        Upload.offset == old,
                        Upload.lock_token == lease.token,
                        Upload.completed_at.is_(None),
                    )
                    .values(
                        offset=new,
                        parts=[p.as_row() for p in parts],
                        expires_at=self._expires(),
                        locked_until=_lease_end(),
                    )
                )
                if _rowcount(res) != 1:
                    raise OffsetMismatch(f"upload {upload.id} changed during this request")
            lease.refreshed = time.monotonic()
            self.services.metrics.upload_bytes.inc(new - old)
            if old_tail_at is not None:  # superseded; a leftover goes with the prefix later
                try:
                    await self.store.delete(tail_key(upload.id, old_tail_at))
                except StorageError as exc:
                    log.warning("upload %s: old tail not removed: %s", upload.id, exc)

    # -- completion

    async def _complete_object(self, upload: Upload, lease: WriteLease) -> UploadState:
        """Join the parts into ``videos/{vid}/source``, then the completion transaction."""
        key = source_key(upload.video_id)
        parts = parts_of(upload)
        info: BlobInfo
        if not parts:  # an empty upload: no multipart object can be empty
            info = await self.store.put_bytes(key, b"")
            if upload.multipart_id:
                await self.store.abort_multipart(key, upload.multipart_id)
        else:
            if not upload.multipart_id:
                raise UploadExpired(f"upload {upload.id} has no multipart upload; start anew")
            await lease.refresh(force=True)
            try:
                info = await self.store.complete_multipart(
                    key, upload.multipart_id, [(p.number, p.etag) for p in parts]
                )
            except BlobNotFound:
                # completed by an earlier request that did not get to commit (or aborted)
                try:
                    info = await self.store.stat(key)
                except BlobNotFound as exc:
                    raise UploadExpired(
                        f"the bytes of upload {upload.id} are gone; start a new upload"
                    ) from exc
        state = await self._finish(upload, info)
        await self._remove_tails(upload.id)
        return state

    async def _remove_tails(self, upload_id: str) -> None:
        try:
            await self.store.delete_prefix(staging_prefix(upload_id))
        except StorageError as exc:  # the janitor's orphan sweep retries
            log.warning("upload %s: staged tails not removed: %s", upload_id, exc)

    # -- DELETE and expiry

    async def terminate(self, upload_id: str) -> None:
        upload = await self._load(upload_id)
        if upload.completed_at is not None:
            raise UploadFinished(
                f"upload {upload_id} is complete; delete video {upload.video_id} "
                "through /api/v1/videos instead"
            )
        async with self._locked(upload_id):
            fresh = await self._load(upload_id)
            if not await self._discard(fresh, expired_only=False):
                raise UploadFinished(f"upload {upload_id} completed meanwhile")

    async def _drop_staged(self, upload: Upload) -> None:
        """Abort the multipart upload and delete the tails (the row is gone already)."""
        if upload.multipart_id:
            await self.store.abort_multipart(source_key(upload.video_id), upload.multipart_id)
        await self._remove_tails(upload.id)

    async def _purge_one(self, upload: Upload) -> bool:
        try:
            async with self._locked(upload.id):
                fresh = await self._load(upload.id)
                return await self._discard(fresh, expired_only=True)
        except (UploadLocked, UploadFinished, UploadNotFound):
            return False  # being written, finished or gone meanwhile

    async def _sweep_orphans(self) -> None:
        """Tails and multipart uploads older than the expiry period with no upload row (their
        video was deleted while uploading, or a request crashed after creating them)."""
        cutoff = utcnow().timestamp() - self.services.settings.upload_expiry_s
        try:
            tails = [b for b in await self.store.list("uploads") if b.mtime < cutoff]
            multiparts = [
                m for m in await self.store.list_multipart("videos") if m.initiated < cutoff
            ]
        except StorageError as exc:
            log.warning("orphan sweep skipped: %s", exc)
            return
        tail_ids = {b.key.split("/")[1] for b in tails}
        async with self.db.read(primary=True) as s:
            known_ids = set(
                (await s.execute(select(Upload.id).where(Upload.id.in_(list(tail_ids)))))
                .scalars()
                .all()
            )
            listed = [m.upload_id for m in multiparts]
            known_multiparts = set(
                (
                    await s.execute(
                        select(Upload.multipart_id).where(Upload.multipart_id.in_(listed))
                    )
                )
                .scalars()
                .all()
            )
        for uid in tail_ids - known_ids:
            log.info("removing orphan staged tails of upload %s", uid)
            await self._remove_tails(uid)
        for mp in multiparts:
            if mp.upload_id not in known_multiparts:
                log.info("aborting orphan multipart upload of %s", mp.key)
                try:
                    await self.store.abort_multipart(mp.key, mp.upload_id)
                except StorageError as exc:
                    log.warning("orphan multipart upload of %s not aborted: %s", mp.key, exc)
