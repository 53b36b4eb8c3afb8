"""Errors of the rate limiter."""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class RateLimited(ReelstreamError):
    """Too many requests of one category from one IP or account (HTTP 429). ``headers``
    carries ``Retry-After`` and the ``RateLimit-*`` headers."""

    code = "rate_limited"

    def __init__(self, message: str, *, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.headers = headers
