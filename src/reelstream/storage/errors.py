"""Blob storage errors. Backends translate their own errors into these at the boundary.

ReelstreamError
└── StorageError             the backend failed (I/O error, unreachable service)
    ├── BlobNotFound         no blob under that key
    └── InvalidKey           a key that could escape the store's root or is malformed

Their messages name keys and backend reasons (for the log); an HTTP answer says only their
``public_message``, which names no key, folder or backend.
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class StorageError(ReelstreamError):
    code = "storage_error"
    status = 503
    public_message = "the storage is unavailable; try again shortly"


class BlobNotFound(StorageError):
    code = "not_found"
    status = 404
    public_message = "not found"


class InvalidKey(StorageError):
    code = "invalid_key"
    status = 404
    public_message = "not found"
