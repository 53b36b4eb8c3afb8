"""Storage accounting and quotas: bytes per user (``reelstream.quota.usage``), the check at
upload creation, and ``GET /api/v1/me/usage`` / ``GET /api/v1/admin/usage``
(``reelstream.quota.routes``). See docs/limits.md."""
