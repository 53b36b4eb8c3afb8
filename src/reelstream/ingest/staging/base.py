"""The staging interface: the backend half of the tus state machine.

``reelstream.ingest.service.UploadService`` owns the protocol (checks, the offset in the
database as the truth, completion, expiry, recovery); a ``Staging`` backend owns only where
the bytes of an unfinished upload wait: how they are appended durably, locked, read back
into the blob store, removed, and which leftovers of it exist. Backends:
``staging.local`` (a file per upload on disk) and ``staging.object`` (an S3 multipart upload
plus a tail object; api instances then share nothing but the database and the bucket).

A backend never moves an offset itself: it makes bytes durable, then calls the service's
``Committer``, and only a committed offset is ever told to a client.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from reelstream.db.models import Upload
from reelstream.ingest.tus import Checksum
from reelstream.storage.base import BlobInfo

WRITE_BUFFER = 1024 * 1024
"""Bytes gathered from the request before one write to staging (bounds memory per request)."""


class Committer(Protocol):
    """Moves an upload's offset from ``old`` to ``new`` in the database, fenced on ``old``
    (and on the write lease ``token`` when given), with extra column ``values``; raises
    ``OffsetMismatch`` when the upload changed meanwhile."""

    async def __call__(
        self,
        upload_id: str,
        old: int,
        new: int,
        *,
        token: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None: ...


class UploadRows(Protocol):
    """What a backend may ask the database about uploads (answered by the service)."""

    async def existing_ids(self, upload_ids: Collection[str]) -> set[str]: ...

    async def existing_multipart_ids(self, multipart_ids: Collection[str]) -> set[str]: ...

    async def completed_ids(self, upload_ids: Collection[str]) -> set[str]: ...


class StagedBytes(ABC):
    """One request's exclusive hold on the staged bytes of an upload (``Staging.hold``)."""

    @abstractmethod
    async def receive(
        self,
        upload: Upload,
        body: AsyncIterator[bytes],
        content_length: int | None,
        checksum: Checksum | None,
        commit: Committer,
    ) -> None:
        """Append ``body`` at ``upload.offset`` (the committed truth: anything staged past it
        was never acknowledged and is dropped) and commit the offsets made durable. Stops
        at ``BodyInterrupted`` keeping what is durable (with a checksum: nothing)."""

    @abstractmethod
    async def store(self, upload: Upload) -> BlobInfo:
        """Put the bytes of a full upload (offset == length) into the blob store at its
        source key; when an earlier completion did so already, the stored source's info.
        ``UploadExpired`` when the bytes are gone."""

    async def stored(self, upload: Upload) -> None:  # noqa: B027 (a hook, empty by default)
        """After the completion transaction: remove what staging still keeps of it."""


class Staging(ABC):
    """Where the bytes of unfinished uploads wait (see the module docstring)."""

    def check_length(self, length: int) -> None:  # noqa: B027 (a hook, empty by default)
        """Refuse (``UploadTooLarge``) an Upload-Length this backend cannot stage."""

    async def create(self, upload_id: str) -> None:  # noqa: B027 (a hook, empty by default)
        """Prepare the staging of a new upload, before its rows exist."""

    async def abandon(self, upload_id: str) -> None:  # noqa: B027 (a hook, empty by default)
        """Undo ``create`` when the rows could not be written."""

    async def started(self, upload: Upload) -> None:  # noqa: B027 (a hook, empty by default)
        """After the rows of a new upload were committed (a failure discards them)."""

    @abstractmethod
    def hold(self, upload: Upload, *, write: bool) -> AbstractAsyncContextManager[StagedBytes]:
        """Hold the upload's staged bytes exclusively for the block.

        ``UploadLocked`` (423) when another request holds them; a backend whose lock lives in
        the row may also raise ``UploadFinished`` or ``UploadNotFound``. With ``write``, bytes
        found missing are staged anew when none was acknowledged (``UploadExpired`` else).
        """

    @abstractmethod
    async def remove(self, upload: Upload) -> None:
        """Remove the staged bytes of an upload whose row is gone."""

    @abstractmethod
    async def sweep(self, cutoff: float, rows: UploadRows) -> None:
        """Remove staged leftovers older than ``cutoff`` (a Unix time) that belong to no
        upload row (a crash, a video deleted while uploading), and, at any age, what is still
        staged for a complete upload (a crash after its completion committed)."""

    @abstractmethod
    async def discard_video(self, video_id: str, rows: UploadRows) -> None:
        """Remove what may still be staged for video ``video_id`` once its upload rows are
        gone: leftovers found by the video id, and staged bytes that belong to no row."""
