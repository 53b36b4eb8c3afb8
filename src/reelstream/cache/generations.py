"""Generation slots shared by the processes of one host: how an in-process cache entry learns
that another process wrote.

A ``Generations`` table is a fixed array of 64-bit slots. A key (a video id) maps to one slot
(``crc32(key) % slots``; slot 0 is the "anything changed" slot, bumped with every key). A
writer, after its commit, ``bump``s the slots of the keys it changed: it stores a fresh random
value there. A reader records ``current(key)`` BEFORE it loads the value from the source of
truth, and keeps its cached copy only while the slot still holds that value. So:

* a write committed before the reader looked is seen (the slot changed after the record);
* a reader that loaded the old row while the write committed cannot keep it: its record is
  the value from before the bump (the fill race is closed without locks);
* two keys sharing a slot only cost each other a spurious miss.

Random values instead of counters: two concurrent writers of one slot could lose an increment
(both read 5, both write 6), and a reader that recorded the first 6 would then miss the second
write. A fresh random value differs from every recorded one (but with probability 2^-64).
A torn read (another process writing the 8 bytes) yields a value that matches nothing, i.e.
a spurious miss, never a stale hit.

``MappedGenerations`` keeps the table in a memory-mapped file under the data dir, so every
process of the host (``reelstream serve --workers N``, ``reelstream api`` replicas sharing a
data dir) sees a bump at the next read, without a system call: a read is a ``struct`` unpack
from shared memory. ``LocalGenerations`` is the same table in this process only (no data dir,
or the file cannot be mapped). Hosts do not share the table: see ``reelstream.videos.cache``
for the bound across hosts.

Written by hand: the standard library has the pieces (``mmap``, ``struct``) and no cache
library offers shared-memory invalidation stamps.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import zlib
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

DEFAULT_SLOTS: Final = 65536  # 512 KiB of shared memory
ANY: Final = 0
_SLOT: Final = struct.Struct("<Q")


def _fresh() -> int:
    return int.from_bytes(os.urandom(8), "little") or 1


class Generations:
    """A table of ``slots`` 64-bit generations in a buffer (see the module docstring)."""

    def __init__(self, buffer: bytearray | mmap.mmap, slots: int) -> None:
        self._buf = buffer
        self.slots = slots

    def slot(self, key: str) -> int:
        return 1 + zlib.crc32(key.encode()) % (self.slots - 1)

    def read(self, slot: int) -> int:
        return int(_SLOT.unpack_from(self._buf, slot * 8)[0])

    def current(self, key: str) -> int:
        return self.read(self.slot(key))

    def current_any(self) -> int:
        """The generation of the "anything changed" slot (bumped with every key)."""
        return self.read(ANY)

    def bump(self, keys: list[str] | tuple[str, ...] | set[str]) -> None:
        """After a committed write to ``keys``: their slots and slot 0 change."""
        for slot in {self.slot(k) for k in keys} | {ANY}:
            _SLOT.pack_into(self._buf, slot * 8, _fresh())


class LocalGenerations(Generations):
    """The table in this process's memory only."""

    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        super().__init__(bytearray(slots * 8), slots)


class MappedGenerations(Generations):
    """The table in a memory-mapped file, shared by every process that maps it."""

    def __init__(self, path: Path, slots: int = DEFAULT_SLOTS) -> None:
        size = slots * 8
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)  # zero-filled; growing never moves existing slots
            self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        super().__init__(self._map, slots)
        self.path = path


def open_generations(path: Path | None, slots: int = DEFAULT_SLOTS) -> Generations:
    """The shared table at ``path``; this process's own table when there is no path or the
    file cannot be mapped (with a warning: other processes' writes are then seen only after
    the local TTL)."""
    if path is not None:
        try:
            return MappedGenerations(path, slots)
        except OSError as exc:
            log.warning(
                "cannot map the cache generation table %s (%s): other processes' writes "
                "will be seen only after cache_local_ttl_s",
                path,
                exc,
            )
    return LocalGenerations(slots)
