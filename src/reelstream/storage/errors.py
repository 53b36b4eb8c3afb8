"""Blob storage errors. Backends translate their own errors into these at the boundary.

ReelstreamError
└── StorageError             the backend failed (I/O error, unreachable service)
    ├── BlobNotFound         no blob under that key
    └── InvalidKey           a key that could escape the store's root or is malformed
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class StorageError(ReelstreamError):
    code = "storage_error"
    status = 503


class BlobNotFound(StorageError):
    code = "not_found"
    status = 404


class InvalidKey(StorageError):
    code = "invalid_key"
    status = 404
