"""The tus upload state machine.

An upload is a row in ``uploads`` plus a staging file. The row's ``offset`` is the truth: it
counts bytes that are on disk and fsynced, and only an offset committed in the database is ever
told to a client. Life of an upload::

    created (offset 0) ──PATCH──▶ receiving (0 < offset < length) ──PATCH──▶ offset == length
        │                                  │                                       │
        └──────── DELETE / expiry ─────────┘                            complete (below)

Completion, crash-safe and idempotent: (1) move the staging file into the blob store as
``videos/{vid}/source``; (2) in ONE transaction set ``completed_at``, mark the video uploaded and
enqueue its transcode job; (3) wake the workers. A crash between (1) and (2) leaves an upload
with offset == length, no staging file and a stored source: the next HEAD, PATCH or the janitor
finishes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult

from reelstream import webhooks
from reelstream.db.base import utcnow
from reelstream.db.models import Upload, Video
from reelstream.ids import is_valid_id, new_id
from reelstream.ingest.errors import (
    ChecksumMismatch,
    OffsetMismatch,
    UploadExpired,
    UploadFinished,
    UploadLocked,
    UploadNotFound,
    UploadTooLarge,
)
from reelstream.ingest.staging import ChunkFile, StagingArea, StagingFile
from reelstream.ingest.tus import Checksum, VideoMetadata, check_fits
from reelstream.quota import usage as quota
from reelstream.services import Services
from reelstream.storage.base import BlobInfo, source_key
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.videos import repository as videos

log = logging.getLogger(__name__)

WRITE_BUFFER = 1024 * 1024
"""Bytes gathered from the request before one write to disk (bounds memory per request)."""

CHECKPOINT_BYTES = 64 * 1024 * 1024
"""During a long PATCH of known length, fsync and commit the offset this often, so a crash
loses at most this much of a large request."""


class BodyInterrupted(Exception):
    """The client went away before the request body ended (raised by the body iterator)."""


@dataclass(frozen=True)
class UploadState:
    id: str
    video_id: str
    length: int
    offset: int
    metadata: dict[str, str]
    expires_at: dt.datetime
    completed: bool

    @classmethod
    def of(cls, upload: Upload) -> UploadState:
        return cls(
            id=upload.id,
            video_id=upload.video_id,
            length=upload.length,
            offset=upload.offset,
            metadata=dict(upload.metadata_ or {}),
            expires_at=upload.expires_at,
            completed=upload.completed_at is not None,
        )


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


class UploadService:
    """The tus state machine. With ``storage_backend == "s3"`` constructing it gives the
    object-store staging variant (``reelstream.ingest.staging_s3.ObjectStagedUploads``):
    api instances then share nothing but the database and the object store."""

    def __new__(cls, services: Services) -> UploadService:
        if cls is UploadService and services.settings.storage_backend == "s3":
            from reelstream.ingest.staging_s3 import ObjectStagedUploads

            return super().__new__(ObjectStagedUploads)
        return super().__new__(cls)

    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db
        self.staging = StagingArea(services.settings.resolved_upload_dir)

    def _expires(self) -> dt.datetime:
        return utcnow() + dt.timedelta(seconds=self.services.settings.upload_expiry_s)

    async def _load(self, upload_id: str) -> Upload:
        if not is_valid_id(upload_id):
            raise UploadNotFound(f"no upload {upload_id!r}")
        async with self.db.read(primary=True) as s:
            upload = (
                await s.execute(select(Upload).where(Upload.id == upload_id))
            ).scalar_one_or_none()
        if upload is None:
            raise UploadNotFound(f"no upload {upload_id!r}")
        return upload

    @staticmethod
    def _check_not_expired(upload: Upload) -> None:
        if upload.completed_at is None and upload.expires_at <= utcnow():
            raise UploadExpired(f"upload {upload.id} expired; start a new upload")

    async def state(self, upload_id: str) -> UploadState:
        """The upload as the database has it, with no side effect."""
        return UploadState.of(await self._load(upload_id))

    # -- creation

    async def create(
        self,
        *,
        length: int,
        metadata: dict[str, str],
        video: VideoMetadata,
        owner_id: str | None = None,
    ) -> UploadState:
        """Create the staging file, then the video and the upload in one transaction."""
        upload_id = new_id()
        await anyio.to_thread.run_sync(self.staging.create, upload_id)
        try:
            upload = await self._create_rows(upload_id, length, metadata, video, owner_id)
        except Exception:
            await anyio.to_thread.run_sync(self.staging.remove, upload_id)
            raise
        self.services.metrics.uploads_created.inc()
        log.info("upload %s created for video %s (%d bytes)", upload_id, upload.video_id, length)
        return UploadState.of(upload)

    async def _create_rows(
        self,
        upload_id: str,
        length: int,
        metadata: dict[str, str],
        video: VideoMetadata,
        owner_id: str | None = None,
    ) -> Upload:
        """The video and its upload, in one transaction (after the owner's quota check)."""
        async with self.db.transaction() as s:
            await quota.reserve(s, owner_id, length, self.services.settings.default_quota_bytes)
            row = await videos.create_video(
                s,
                title=video.title,
                filename=video.filename,
                visibility=video.visibility,
                owner_id=owner_id,
            )
            upload = Upload(
                id=upload_id,
                video_id=row.id,
                length=length,
                offset=0,
                metadata_=metadata,
                expires_at=self._expires(),
            )
            s.add(upload)
            await s.flush()
        return upload

    # -- HEAD

    async def status(self, upload_id: str) -> UploadState:
        """The upload's state for HEAD; finishes a completion that a crash interrupted."""
        upload = await self._load(upload_id)
        if upload.completed_at is None and upload.offset == upload.length:
            return await self._recover(upload)
        self._check_not_expired(upload)
        return UploadState.of(upload)

    async def _recover(self, upload: Upload) -> UploadState:
        """Complete an upload that holds all its bytes (unless someone else is on it)."""
        try:
            handle = await anyio.to_thread.run_sync(self.staging.open_locked, upload.id)
        except UploadLocked:
            return UploadState.of(upload)
        try:
            fresh = await self._load(upload.id)
            if fresh.completed_at is not None:
                return UploadState.of(fresh)
            return await self._complete(fresh, handle)
        finally:
            if handle is not None:
                await anyio.to_thread.run_sync(handle.close)

    # -- PATCH

    async def _check_write(
        self, upload_id: str, offset: int, content_length: int | None
    ) -> Upload | UploadState:
        """The tus checks every PATCH makes before touching bytes. Returns the upload to write
        to, or the answer already due (a repeated final PATCH, or a completion to finish)."""
        upload = await self._load(upload_id)
        if upload.completed_at is not None:
            if offset == upload.length and not content_length:
                return UploadState.of(upload)
            raise UploadFinished(f"upload {upload_id} is complete; nothing more can be written")
        if offset != upload.offset:
            raise OffsetMismatch(
                f"Upload-Offset {offset} does not match the server's offset {upload.offset}"
            )
        if upload.offset == upload.length:
            return await self._recover(upload)
        self._check_not_expired(upload)
        if content_length is not None:
            check_fits(offset, content_length, upload.length)
        return upload

    async def write(
        self,
        upload_id: str,
        *,
        offset: int,
        body: AsyncIterator[bytes],
        content_length: int | None,
        checksum: Checksum | None,
    ) -> UploadState:
        """Append one request body at ``offset``; returns the state after the durable write."""
        checked = await self._check_write(upload_id, offset, content_length)
        if isinstance(checked, UploadState):
            return checked
        upload = checked

        handle = await anyio.to_thread.run_sync(self.staging.open_locked, upload_id)
        if handle is None:
            handle = await self._restage(upload)
        try:
            upload = await self._load(upload_id)  # the truth, now that we hold the lock
            if upload.completed_at is not None:
                raise UploadFinished(f"upload {upload_id} is complete")
            if offset != upload.offset:
                raise OffsetMismatch(
                    f"Upload-Offset {offset} does not match the server's offset {upload.offset}"
                )
            # Bytes past the committed offset were never acknowledged: drop them.
            await anyio.to_thread.run_sync(handle.truncate, upload.offset)
            if checksum is None:
                new_offset = await self._receive(handle, upload, body, content_length)
            else:
                new_offset = await self._receive_checked(handle, upload, body, checksum)
            upload.offset = new_offset
            if new_offset == upload.length:
                return await self._complete(upload, handle)
            return UploadState.of(await self._load(upload_id))
        except OSError as exc:  # the disk, not the client: 503, the client retries
            log.error("upload %s: staging I/O failed: %s", upload_id, exc)
            raise StorageError(f"cannot write upload {upload_id}: {exc.strerror}") from exc
        finally:
            await anyio.to_thread.run_sync(handle.close)

    async def _restage(self, upload: Upload) -> StagingFile:
        """The staging file is missing: recreate it when no byte was acknowledged yet."""
        if upload.offset != 0:
            raise UploadExpired(f"the bytes of upload {upload.id} are gone; start a new upload")
        with contextlib.suppress(FileExistsError):
            await anyio.to_thread.run_sync(self.staging.create, upload.id)
        handle = await anyio.to_thread.run_sync(self.staging.open_locked, upload.id)
        if handle is None:
            raise UploadLocked(f"upload {upload.id} is changing; retry shortly")
        return handle

    async def _commit(self, handle: StagingFile, upload: Upload, old: int, new: int) -> int:
        """fsync, then move the offset from ``old`` to ``new`` (optimistic, fenced on ``old``)."""
        if new == old:
            return old
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(handle.sync)
            async with self.db.transaction() as s:
                res = await s.execute(
                    update(Upload)
                    .where(
                        Upload.id == upload.id,
                        Upload.offset == old,
                        Upload.completed_at.is_(None),
                    )
                    .values(offset=new, expires_at=self._expires())
                )
                if _rowcount(res) != 1:
                    raise OffsetMismatch(f"upload {upload.id} changed during this request")
        self.services.metrics.upload_bytes.inc(new - old)
        return new

    async def _receive(
        self,
        handle: StagingFile,
        upload: Upload,
        body: AsyncIterator[bytes],
        content_length: int | None,
    ) -> int:
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
                        committed = await self._commit(handle, upload, committed, pos)
        except BodyInterrupted:
            log.info("upload %s: client went away at offset %d", upload.id, pos + len(buf))
        if buf:
            await anyio.to_thread.run_sync(handle.write_at, pos, bytes(buf))
            pos += len(buf)
        committed = await self._commit(handle, upload, committed, pos)
        log.debug("upload %s: %d durable bytes", upload.id, committed - start)
        return committed

    async def _receive_checked(
        self, handle: StagingFile, upload: Upload, body: AsyncIterator[bytes], checksum: Checksum
    ) -> int:
        """Receive into a side file, verify the checksum, then append to the staging file."""
        start = upload.offset
        chunk = await anyio.to_thread.run_sync(ChunkFile, self.staging.chunk_path(upload.id))
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
                return start
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
        return await self._commit(handle, upload, start, start + copied)

    # -- completion

    async def _complete(self, upload: Upload, handle: StagingFile | None) -> UploadState:
        """Store the source, then mark the video uploaded and queue it in one transaction.

        ``handle`` is the locked staging file, or None when it is gone (moved by an earlier
        completion that did not get to commit).
        """
        key = source_key(upload.video_id)
        store = self.services.store
        if handle is not None:
            await anyio.to_thread.run_sync(handle.truncate, upload.length)
            info = await store.put_file(key, handle.path, move=True)
        else:
            try:
                info = await store.stat(key)
            except BlobNotFound as exc:
                raise UploadExpired(
                    f"the bytes of upload {upload.id} are gone; start a new upload"
                ) from exc
        return await self._finish(upload, info)

    async def _finish(self, upload: Upload, info: BlobInfo) -> UploadState:
        """The source ``info`` is stored: mark the video uploaded and queue it (one
        transaction, idempotent), then wake the workers."""
        key = source_key(upload.video_id)
        if info.size != upload.length:
            raise StorageError(
                f"stored source of upload {upload.id} has {info.size} bytes, "
                f"expected {upload.length}"
            )
        finished = False
        async with self.db.transaction() as s:
            res = await s.execute(
                update(Upload)
                .where(Upload.id == upload.id, Upload.completed_at.is_(None))
                .values(completed_at=utcnow())
            )
            if _rowcount(res) == 1:
                video = await videos.get_video(s, upload.video_id)
                await videos.mark_uploaded(s, video, source_key=key, source_bytes=upload.length)
                await self.services.queue.enqueue(s, video.id)
                await webhooks.emit(s, "upload.completed", video, extra={"upload_id": upload.id})
                finished = True
        if finished:
            self.services.notifier.notify()
            self.services.metrics.uploads_completed.inc()
            log.info("upload %s complete: video %s queued", upload.id, upload.video_id)
        return UploadState.of(await self._load(upload.id))

    # -- DELETE and expiry

    async def terminate(self, upload_id: str) -> None:
        """Remove an unfinished upload: its bytes, its row and its (still uploading) video."""
        upload = await self._load(upload_id)
        if upload.completed_at is not None:
            raise UploadFinished(
                f"upload {upload_id} is complete; delete video {upload.video_id} "
                "through /api/v1/videos instead"
            )
        handle = await anyio.to_thread.run_sync(self.staging.open_locked, upload_id)
        try:
            if not await self._discard(upload, expired_only=False):
                raise UploadFinished(f"upload {upload_id} completed meanwhile")
        finally:
            if handle is not None:
                await anyio.to_thread.run_sync(handle.close)

    async def _discard(self, upload: Upload, *, expired_only: bool) -> bool:
        """Delete the rows, then the bytes, of an unfinished upload. False if it finished."""
        conditions = [Upload.id == upload.id, Upload.completed_at.is_(None)]
        if expired_only:
            conditions.append(Upload.expires_at <= utcnow())
        async with self.db.transaction() as s:
            res = await s.execute(delete(Upload).where(*conditions))
            if _rowcount(res) != 1:
                return False
            await s.execute(
                delete(Video).where(Video.id == upload.video_id, Video.status == "uploading")
            )
        await self._drop_staged(upload)
        # A completion that moved the bytes but never committed leaves the source behind.
        await self.services.store.delete(source_key(upload.video_id))
        log.info("upload %s removed (video %s)", upload.id, upload.video_id)
        return True

    async def _drop_staged(self, upload: Upload) -> None:
        """Remove the staged bytes of an upload whose row is gone."""
        await anyio.to_thread.run_sync(self.staging.remove, upload.id)

    async def purge_expired(self) -> int:
        """Delete expired unfinished uploads; finish those that already hold every byte."""
        async with self.db.read(primary=True) as s:
            rows = (
                (
                    await s.execute(
                        select(Upload).where(
                            Upload.completed_at.is_(None), Upload.expires_at <= utcnow()
                        )
                    )
                )
                .scalars()
                .all()
            )
        purged = 0
        for upload in rows:
            if upload.offset == upload.length:
                try:
                    await self._recover(upload)
                except (UploadExpired, StorageError) as exc:
                    log.warning("upload %s could not be completed: %s", upload.id, exc)
                else:
                    continue
            if await self._purge_one(upload):
                purged += 1
        await self._sweep_orphans()
        return purged

    async def _purge_one(self, upload: Upload) -> bool:
        """Delete one expired upload under its write lock; False when it is busy or kept."""
        try:
            handle = await anyio.to_thread.run_sync(self.staging.open_locked, upload.id)
        except UploadLocked:
            return False  # a request is writing to it right now
        try:
            return await self._discard(upload, expired_only=True)
        finally:
            if handle is not None:
                await anyio.to_thread.run_sync(handle.close)

    async def _sweep_orphans(self) -> None:
        """Remove staging files with no upload row that are older than the expiry period."""
        root = self.staging.root
        cutoff = utcnow().timestamp() - self.services.settings.upload_expiry_s

        def old_files() -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            if not root.is_dir():
                return found
            for path in root.iterdir():
                uid = path.name.removesuffix(".chunk")
                with contextlib.suppress(FileNotFoundError):
                    if is_valid_id(uid) and path.stat().st_mtime < cutoff:
                        found.setdefault(uid, []).append(path.name)
            return found

        candidates = await anyio.to_thread.run_sync(old_files)
        if not candidates:
            return
        async with self.db.read(primary=True) as s:
            known = set(
                (await s.execute(select(Upload.id).where(Upload.id.in_(list(candidates)))))
                .scalars()
                .all()
            )
        for uid in set(candidates) - known:
            log.info("removing orphan staging file(s) of %s", uid)
            await anyio.to_thread.run_sync(self.staging.remove, uid)


async def purge_expired(services: Services) -> int:
    """The expiry janitor: returns how many expired uploads were removed."""
    return await UploadService(services).purge_expired()
