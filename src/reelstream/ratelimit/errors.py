"""Errors of the rate limiter."""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class RateLimited(ReelstreamError):
    """Too many requests of one category from one IP or account (HTTP 429). ``headers``
    carries ``Retry-After`` and the ``RateLimit-*`` headers; ``message`` is for the API,
    ``sentence`` for people (the sign-in and sign-up forms show it)."""

    code = "rate_limited"
    status = 429

    def __init__(
        self, reason: str, *, limit: int, retry_after_s: int, headers: dict[str, str]
    ) -> None:
        super().__init__(
            f"{reason}: the limit is {limit} per window; try again in {retry_after_s} s"
        )
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.headers = headers

    @property
    def sentence(self) -> str:
        """``Too many sign-in attempts for this username; try again in 42 seconds.``"""
        wait = f"{self.retry_after_s} second{'' if self.retry_after_s == 1 else 's'}"
        return f"{self.reason.capitalize()}; try again in {wait}."
