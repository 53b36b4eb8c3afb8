"""The in-process tier: a bounded LRU of values with a TTL, each entry valid only while its
generation slot is unchanged (``reelstream.cache.generations``).

Use: ``stamp = local.stamp(key)`` BEFORE loading the value from the tier below (Redis, the
database), then ``local.put(key, value, stamp)``. ``get`` answers only entries younger than
``ttl_s`` whose slot still holds the stamp: a write committed in any process that shares the
generation table is seen at the next ``get``, and a value loaded before such a write is never
answered. ``max_entries`` bounds memory: the least recently used entry goes first.

Written by hand (an ``OrderedDict``): ``cachetools`` would give the LRU and the TTL but not the
generation check, and the check has to be on the hit path, which must stay a few dict
operations long.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from reelstream.cache.generations import Generations

V = TypeVar("V")


class LocalCache(Generic[V]):
    def __init__(
        self,
        generations: Generations,
        *,
        max_entries: int,
        ttl_s: float,
        slot_of: Callable[[str], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.generations = generations
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._slot_of = slot_of or generations.slot
        self._clock = clock
        # key -> (value, expires at, slot, generation recorded before the load)
        self._entries: OrderedDict[str, tuple[V, float, int, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def stamp(self, key: str) -> int:
        """The generation to record before loading ``key`` from below."""
        return self.generations.read(self._slot_of(key))

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires, slot, generation = entry
        if expires < self._clock() or self.generations.read(slot) != generation:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V, stamp: int) -> bool:
        """Keep ``value`` (loaded after ``stamp`` was recorded) unless a write came since."""
        if self.max_entries <= 0:
            return False
        slot = self._slot_of(key)
        if self.generations.read(slot) != stamp:
            return False
        self._entries[key] = (value, self._clock() + self.ttl_s, slot, stamp)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def drop(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
