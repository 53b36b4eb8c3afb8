"""S3-compatible blob store (being written)."""

from __future__ import annotations

from reelstream.config import Settings
from reelstream.storage.base import BlobStore


class S3BlobStore(BlobStore):
    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        raise NotImplementedError("the S3 backend is not written yet")
