"""Root of every reelstream exception.

Each component has its own small tree below this root, drawn in its ``errors`` module::

    ReelstreamError
    ├── ConfigError                      (reelstream.errors)
    ├── StorageError                     (reelstream.storage.errors)
    ├── TokenError, AuthError            (reelstream.auth.errors)
    ├── QueueError                       (reelstream.queue.errors)
    ├── UploadError                      (reelstream.ingest.errors)
    ├── MediaError                       (reelstream.transcode.errors)
    ├── VideoError, DatabaseError        (reelstream.db.errors)
    ├── QuotaError                       (reelstream.quota.errors)
    ├── ViewsError                       (reelstream.views.errors)
    ├── WebhookError                     (reelstream.webhooks.errors)
    ├── AdminError                       (reelstream.admin.errors)
    └── EdgeError                        (reelstream.edge.errors)

Services raise these; ``reelstream.api.errors`` maps them to an HTTP status and a JSON body
``{"error": {"code": ..., "message": ...}}`` in one table.
"""

from __future__ import annotations


class ReelstreamError(Exception):
    """Base of all reelstream errors. ``code`` is a stable machine-readable identifier."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ReelstreamError):
    """The configuration is invalid or unsafe (for example a placeholder secret in production)."""

    code = "config_error"
