"""Blob storage: one interface (``BlobStore``), one class per backend, chosen by a setting."""

from __future__ import annotations

from reelstream.config import Settings
from reelstream.storage.base import BlobInfo, BlobStore
from reelstream.storage.errors import BlobNotFound, InvalidKey, StorageError


def create_store(settings: Settings) -> BlobStore:
    if settings.storage_backend == "s3":
        from reelstream.storage.s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
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
