"""The tus upload state machine, one for every staging backend.

An upload is a row in ``uploads`` plus its staged bytes (``reelstream.ingest.staging``: a
file on disk, or an S3 multipart upload and a tail object). The row's ``offset`` is the
truth: it counts bytes that are staged durably, and only an offset committed in the database
is ever told to a client. Life of an upload::

    created (offset 0) ──PATCH──▶ receiving (0 < offset < length) ──PATCH──▶ offset == length
        │                                  │                                       │
        └──────── DELETE / expiry ─────────┘                            complete (below)

Every write, completion, termination and purge runs under the staging backend's hold on the
upload (a flock, or a lease in the row): a second writer gets ``UploadLocked`` (423).

Completion, crash-safe and idempotent: (1) the staged bytes go into the blob store as
``videos/{vid}/source``; (2) in ONE transaction set ``completed_at``, mark the video uploaded
and enqueue its transcode job; (3) wake the workers. A crash between (1) and (2) leaves an
upload with offset == length and a stored source: the next HEAD, PATCH or the janitor
finishes it.

A replacement (tus metadata ``video_id``, ``reelstream.ingest.sources``) creates no video: its
bytes go to ``videos/{vid}/source.{upload}`` and its completion, in the same one transaction,
either swaps the source at once (a video never published: it is simply processed again) or
queues a transcode of the new source (``payload["source"]``) while the published version keeps
playing; that transcode's publish switches source, probe facts and rev in one state change.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from reelstream import webhooks
from reelstream.db.base import utcnow
from reelstream.db.models import Upload
from reelstream.ids import is_valid_id, new_id
from reelstream.ingest import repository as repo
from reelstream.ingest.errors import (
    OffsetMismatch,
    UploadExpired,
    UploadFinished,
    UploadLocked,
    UploadNotFound,
)
from reelstream.ingest.sources import replaces, upload_source_key
from reelstream.ingest.staging import StagedBytes, Staging, create_staging
from reelstream.ingest.tus import Checksum, VideoMetadata, check_fits
from reelstream.queue.kinds import CLEANUP
from reelstream.quota import usage as quota
from reelstream.storage.base import BlobInfo
from reelstream.storage.errors import StorageError
from reelstream.videos import repository as videos

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class UploadAccess:
    """Who may continue an upload: its video's owner and visibility."""

    owner_id: str | None
    visibility: str


@dataclass(frozen=True)
class ReplaceTarget:
    """The video a replacement upload is for, as the creation checks it."""

    video_id: str
    owner_id: str | None
    visibility: str
    refusal: str | None  # why its source cannot be replaced now (409), for the authorized


class UploadService:
    """The tus state machine over one ``Staging`` backend (see the module docstring)."""

    def __init__(self, services: Services, staging: Staging) -> None:
        self.services = services
        self.db = services.db
        self.staging = staging

    def _expires(self) -> dt.datetime:
        return utcnow() + dt.timedelta(seconds=self.services.settings.upload_expiry_s)

    async def _load(self, upload_id: str) -> Upload:
        if not is_valid_id(upload_id):
            raise UploadNotFound(f"no upload {upload_id!r}")
        async with self.db.read(primary=True) as s:
            upload = await repo.get(s, upload_id)
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

    async def access(self, upload_id: str) -> UploadAccess | None:
        """The owner and visibility of the upload's video; None when there is no such upload."""
        if not is_valid_id(upload_id):
            return None
        async with self.db.read(primary=True) as s:
            row = await repo.access(s, upload_id)
        return None if row is None else UploadAccess(owner_id=row[0], visibility=row[1])

    # -- what staging may ask the database (``staging.base.UploadRows``)

    async def existing_ids(self, upload_ids: Collection[str]) -> set[str]:
        if not upload_ids:
            return set()
        async with self.db.read(primary=True) as s:
            return await repo.existing_ids(s, upload_ids)

    async def existing_multipart_ids(self, multipart_ids: Collection[str]) -> set[str]:
        async with self.db.read(primary=True) as s:
            return await repo.existing_multipart_ids(s, multipart_ids)

    async def completed_ids(self, upload_ids: Collection[str]) -> set[str]:
        if not upload_ids:
            return set()
        async with self.db.read(primary=True) as s:
            return await repo.completed_ids(s, upload_ids)

    # -- creation

    async def replace_target(self, video_id: str) -> ReplaceTarget:
        """The video whose source an upload would replace (``VideoNotFound``), with the reason
        it cannot be replaced now: while it is still being uploaded or processed."""
        async with self.db.read(primary=True) as s:
            video = await videos.get_video(s, video_id)
            busy = await self.services.queue.has_pending(s, video_id)
        refusal = None
        if video.status == "uploading":
            refusal = (
                f"video {video_id} is still being uploaded: finish or delete that upload first"
            )
        elif busy or video.status in ("queued", "processing"):
            refusal = (
                f"video {video_id} is being processed: replace its source once it is ready "
                "or failed"
            )
        return ReplaceTarget(video.id, video.owner_id, video.visibility, refusal)

    async def create(
        self,
        *,
        length: int,
        metadata: dict[str, str],
        video: VideoMetadata,
        owner_id: str | None = None,
    ) -> UploadState:
        """Prepare staging, then the video and the upload in one transaction, then let staging
        start (the rows are removed again when it cannot)."""
        self.staging.check_length(length)
        upload_id = new_id()
        await self.staging.create(upload_id)
        try:
            upload = await self._create_rows(upload_id, length, metadata, video, owner_id)
        except Exception:
            await self.staging.abandon(upload_id)
            raise
        try:
            await self.staging.started(upload)
        except Exception:
            with anyio.CancelScope(shield=True):
                await self._discard(upload, expired_only=False)
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
        """The video (unless the upload replaces an existing video's source) and its upload,
        in one transaction (after the owner's quota check)."""
        async with self.db.transaction() as s:
            await quota.reserve(s, owner_id, length, self.services.settings.default_quota_bytes)
            if video.replaces is not None:
                row = await videos.get_video(s, video.replaces)
            else:
                row = await videos.create_video(
                    s,
                    title=video.title,
                    description=video.description,
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
            async with self.staging.hold(upload, write=False) as staged:
                fresh = await self._load(upload.id)
                if fresh.completed_at is not None or fresh.offset != fresh.length:
                    return UploadState.of(fresh)
                return await self._complete(fresh, staged)
        except (UploadLocked, UploadFinished):
            return UploadState.of(await self._load(upload.id))

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
        async with self.staging.hold(checked, write=True) as staged:
            try:
                upload = await self._load(upload_id)  # the truth, now that we hold the lock
                if upload.completed_at is not None:
                    raise UploadFinished(f"upload {upload_id} is complete")
                if offset != upload.offset:
                    raise OffsetMismatch(
                        f"Upload-Offset {offset} does not match the server's offset {upload.offset}"
                    )
                await staged.receive(upload, body, content_length, checksum, self._commit)
                upload = await self._load(upload_id)
                if upload.offset == upload.length:
                    return await self._complete(upload, staged)
                return UploadState.of(upload)
            except OSError as exc:  # the disk, not the client: 503, the client retries
                log.error("upload %s: staging I/O failed: %s", upload_id, exc)
                raise StorageError(f"cannot write upload {upload_id}: {exc.strerror}") from exc

    async def _commit(
        self,
        upload_id: str,
        old: int,
        new: int,
        *,
        token: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Move the offset from ``old`` to ``new`` (``staging.base.Committer``): the bytes up
        to ``new`` are durable in staging."""
        async with self.db.transaction() as s:
            moved = await repo.move_offset(
                s, upload_id, old, new, expires_at=self._expires(), token=token, values=values
            )
            if not moved:
                raise OffsetMismatch(f"upload {upload_id} changed during this request")
        self.services.metrics.upload_bytes.inc(new - old)

    # -- completion

    async def _complete(self, upload: Upload, staged: StagedBytes) -> UploadState:
        """Store the source, then mark the video uploaded and queue it in one transaction."""
        info = await staged.store(upload)
        state = await self._finish(upload, info)
        await staged.stored(upload)
        return state

    async def _finish(self, upload: Upload, info: BlobInfo) -> UploadState:
        """The source ``info`` is stored: mark the video uploaded and queue it (one
        transaction, idempotent), then wake the workers."""
        key = upload_source_key(upload)
        if info.size != upload.length:
            raise StorageError(
                f"stored source of upload {upload.id} has {info.size} bytes, "
                f"expected {upload.length}"
            )
        finished = False
        async with self.db.transaction() as s:
            if await repo.mark_completed(s, upload.id, utcnow()):
                video = await videos.get_video(s, upload.video_id)
                if replaces(upload) is not None and video.published_rev is not None:
                    # the published version keeps playing: its transcode's publish swaps
                    await self.services.queue.enqueue(
                        s, video.id, payload={"source": key, "source_bytes": upload.length}
                    )
                else:
                    old = video.source_key
                    await videos.mark_uploaded(s, video, source_key=key, source_bytes=upload.length)
                    await self.services.queue.enqueue(s, video.id)
                    if old is not None and old != key:  # replaced: nothing reads it (no job)
                        await self.services.queue.enqueue(
                            s, video.id, CLEANUP, payload={"source": old}
                        )
                await webhooks.emit(s, "upload.completed", video, extra={"upload_id": upload.id})
                finished = True
        if finished:
            self.services.metrics.uploads_completed.inc()
            log.info("upload %s complete: video %s queued", upload.id, upload.video_id)
        return UploadState.of(await self._load(upload.id))

    # -- DELETE, expiry, video deletion

    async def terminate(self, upload_id: str) -> None:
        """Remove an unfinished upload: its bytes, its row and its (still uploading) video."""
        upload = await self._load(upload_id)
        if upload.completed_at is not None:
            raise UploadFinished(
                f"upload {upload_id} is complete; delete video {upload.video_id} "
                "through /api/v1/videos instead"
            )
        async with self.staging.hold(upload, write=False):
            fresh = await self._load(upload_id)
            if not await self._discard(fresh, expired_only=False):
                raise UploadFinished(f"upload {upload_id} completed meanwhile")

    async def _discard(self, upload: Upload, *, expired_only: bool) -> bool:
        """Delete the rows, then the bytes, of an unfinished upload. False if it finished."""
        async with self.db.transaction() as s:
            deleted = await repo.delete_unfinished(
                s, upload, expired_before=utcnow() if expired_only else None
            )
        if not deleted:
            return False
        await self.staging.remove(upload)
        # A completion that moved the bytes but never committed leaves the source behind.
        await self.services.store.delete(upload_source_key(upload))
        log.info("upload %s removed (video %s)", upload.id, upload.video_id)
        return True

    async def discard_for_video(self, video_id: str) -> None:
        """Remove everything staged for the upload(s) of video ``video_id``, on this backend,
        with their rows (the upload then answers 404). For deleting the video, before or
        after its row went: leftovers whose rows went with it are found by the backend
        (``Staging.discard_video``). Failures are logged; the janitor's sweep retries."""
        async with self.db.transaction() as s:
            uploads = await repo.delete_for_video(s, video_id)
        try:
            for upload in uploads:
                await self.staging.remove(upload)
                log.info("upload %s removed with video %s", upload.id, video_id)
            await self.staging.discard_video(video_id, self)
        except (OSError, StorageError) as exc:
            log.error("video %s: staged upload bytes not removed: %s", video_id, exc)

    async def purge_expired(self) -> int:
        """Delete expired unfinished uploads; finish those that already hold every byte."""
        async with self.db.read(primary=True) as s:
            rows = await repo.expired(s, utcnow())
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
        cutoff = utcnow().timestamp() - self.services.settings.upload_expiry_s
        await self.staging.sweep(cutoff, self)
        return purged

    async def _purge_one(self, upload: Upload) -> bool:
        """Delete one expired upload under its hold; False when it is busy, kept or gone."""
        try:
            async with self.staging.hold(upload, write=False):
                fresh = await self._load(upload.id)
                return await self._discard(fresh, expired_only=True)
        except (UploadLocked, UploadFinished, UploadNotFound):
            return False  # being written, finished or gone meanwhile


def build_upload_service(services: Services) -> UploadService:
    """The upload service over the staging backend ``services.settings`` chooses."""
    return UploadService(services, create_staging(services.settings, services.db, services.store))


async def purge_expired(services: Services) -> int:
    """The expiry janitor: returns how many expired uploads were removed."""
    return await build_upload_service(services).purge_expired()
