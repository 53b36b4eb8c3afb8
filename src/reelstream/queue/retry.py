"""Retry strategy as a value object."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_s: float = 10.0
    max_s: float = 600.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``, after ``attempt`` failed (1-based)."""
        return float(min(self.max_s, self.base_s * self.factor ** max(0, attempt - 1)))

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
