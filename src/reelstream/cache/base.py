"""The cache interface: an accelerator for hot metadata, never the source of truth.

Every backend swallows its own failures: a cache that is down makes requests slower, never
failed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Cache(ABC):
    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The value under ``key``; None when absent, expired or unreachable."""

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds."""

    @abstractmethod
    async def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store only if ``key`` is absent (atomic); True when stored."""

    @abstractmethod
    async def delete(self, *keys: str) -> None:
        """Remove ``keys``; missing ones are ignored."""

    async def close(self) -> None:
        """Release connections (backends that hold any)."""
        return None
