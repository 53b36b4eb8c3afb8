"""Blob storage: one interface (``BlobStore``), one class per backend, chosen by a setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstream.config import Settings
from reelstream.storage.base import BlobInfo, BlobStore
from reelstream.storage.errors import BlobNotFound, InvalidKey, StorageError

if TYPE_CHECKING:
    from reelstream.observability.metrics import Metrics


def create_store(settings: Settings, metrics: Metrics | None = None) -> BlobStore:
    """The backend ``settings`` choose; ``metrics``: where the object store counts its errors."""
    if settings.storage_backend == "s3":
        from reelstream.storage.s3 import S3BlobStore

        return S3BlobStore.from_settings(settings, metrics)
    if settings.storage_backend == "memory":
        from reelstream.storage.memory import MemoryBlobStore

        return MemoryBlobStore()
    from reelstream.storage.local import LocalBlobStore

    return LocalBlobStore(settings.resolved_storage_root)


__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "InvalidKey",
    "StorageError",
    "create_store",
]
