"""Retry strategy as a value object, shared by jobs and webhook deliveries.

After failed attempt ``n`` (1-based) the next one waits ``base_s * factor**(n-1)`` seconds,
capped at ``max_s``; the exponent stops growing at ``MAX_EXPONENT``, long after the cap is
reached, so a long-retried delivery never overflows a float. The policy gives up when
``max_attempts`` attempts were made (jobs) or when the next attempt would start more than
``horizon_s`` after the first one (webhook deliveries, which retry for a day); either limit
may be ``None``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_EXPONENT = 62


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int | None = 3
    base_s: float = 10.0
    max_s: float = 600.0
    factor: float = 2.0
    horizon_s: float | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``, after ``attempt`` failed (1-based)."""
        exponent = min(max(0, attempt - 1), MAX_EXPONENT)
        return float(min(self.max_s, self.base_s * self.factor**exponent))

    def exhausted(self, attempt: int) -> bool:
        return self.max_attempts is not None and attempt >= self.max_attempts

    def retry_at(
        self, attempt: int, now: dt.datetime, first_at: dt.datetime | None = None
    ) -> dt.datetime | None:
        """When to make the next attempt after ``attempt`` failed at ``now``; None: give up
        (out of attempts, or past ``horizon_s`` after ``first_at``)."""
        if self.exhausted(attempt):
            return None
        at = now + dt.timedelta(seconds=self.delay(attempt))
        horizon = None if self.horizon_s is None else dt.timedelta(seconds=self.horizon_s)
        if horizon is not None and first_at is not None and at > first_at + horizon:
            return None
        return at
