"""Where the bytes of unfinished tus uploads wait: the ``Staging`` interface (``base``), one
module per backend (``local``: disk; ``object``: S3 multipart) and the factory choosing one."""

from __future__ import annotations

from reelstream.config import Settings
from reelstream.db import Database
from reelstream.errors import ConfigError
from reelstream.ingest.staging.base import Committer, StagedBytes, Staging, UploadRows
from reelstream.storage import BlobStore


def create_staging(settings: Settings, db: Database, store: BlobStore) -> Staging:
    """The staging backend for ``settings.storage_backend``: the object store with ``s3``
    (api instances then share nothing but the database and the bucket), else local disk."""
    if settings.storage_backend == "s3":
        from reelstream.ingest.staging.object import ObjectStaging
        from reelstream.storage.s3 import S3BlobStore

        if not isinstance(store, S3BlobStore):
            raise ConfigError("object-store staging needs the S3 blob store")
        return ObjectStaging(db, store, settings.s3_part_size, settings.resolved_upload_dir)
    from reelstream.ingest.staging.local import LocalStaging

    return LocalStaging(settings.resolved_upload_dir, store)


__all__ = ["Committer", "StagedBytes", "Staging", "UploadRows", "create_staging"]
