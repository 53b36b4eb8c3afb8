"""Errors of storage accounting."""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class QuotaError(ReelstreamError):
    code = "quota_error"


class QuotaExceeded(QuotaError):
    """An upload would take the user past their storage quota (HTTP 413)."""

    code = "quota_exceeded"
    status = 413
