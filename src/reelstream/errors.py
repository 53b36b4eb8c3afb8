"""Root of every reelstream exception.

Each component has its own small tree below this root, drawn in its ``errors`` module::

    ReelstreamError
    ├── ConfigError                      (reelstream.errors)
    ├── StorageError                     (reelstream.storage.errors)
    ├── TokenError, AuthError            (reelstream.auth.errors)
    ├── QueueError                       (reelstream.queue.errors)
    ├── UploadError                      (reelstream.ingest.errors)
    ├── MediaError                       (reelstream.media.errors)
    ├── ProcessingError                  (reelstream.processing.errors)
    ├── VideoError                       (reelstream.videos.errors)
    ├── DatabaseError                    (reelstream.db.errors)
    ├── InvalidCursor                    (reelstream.http.pagination)
    ├── QuotaError                       (reelstream.quota.errors)
    ├── ViewsError                       (reelstream.views.errors)
    ├── QoeError                         (reelstream.qoe.errors)
    ├── WebhookError                     (reelstream.webhooks.errors)
    ├── AdminError                       (reelstream.admin.errors)
    ├── CapacityError                    (reelstream.capacity.errors)
    └── EdgeError                        (reelstream.edge.errors)

Every error carries its own stable ``code`` and the HTTP ``status`` it answers with (500 unless a
class says otherwise; subclasses inherit their parent's). Services raise these; the one generic
handler in ``reelstream.http.errors`` turns any of them into that status and a JSON body
``{"error": {"code": ..., "message": ...}}``, so no table imports every component. An error
with a ``page_redirect`` (sign-in required) sends a browser asking for a page there instead,
with ``?next=`` the page it asked for. An error whose ``message`` names internals (a storage
key, a backend's reason) sets a ``public_message``: clients get that (``client_message``), the
log gets the full message.
"""

from __future__ import annotations

from typing import ClassVar


class ReelstreamError(Exception):
    """Base of all reelstream errors. ``code`` is a stable machine-readable identifier and
    ``status`` the HTTP status a request that raised it answers with."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    page_redirect: ClassVar[str | None] = None
    public_message: ClassVar[str | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def client_message(self) -> str:
        """What an HTTP answer says: ``public_message`` when the class hides internals, else
        ``message``."""
        return self.public_message or self.message


class ConfigError(ReelstreamError):
    """The configuration is invalid or unsafe (for example a placeholder secret in production)."""

    code = "config_error"
