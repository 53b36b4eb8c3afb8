"""Wake-ups between the server processes of one data dir (``reelstream serve --workers N`` on
SQLite, where neither Redis nor LISTEN/NOTIFY is there to carry them).

Each process listens on a Unix datagram socket in the abstract namespace (Linux: no file, no
path-length limit, gone with the process), named after the data dir and its pid, and leaves a
marker file ``<data_dir>/wake/<pid>`` so the others can find it. ``notify()`` wakes this
process's workers and sends one byte to every other marker's socket, without blocking; a
refused send means the process is gone, and its marker is removed. Only the process that runs
the job workers (``reelstream.worker.ElectedPool``) waits on these; a lost datagram costs one
poll period, as with every notifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from pathlib import Path

from reelstream.queue.notify.base import Notifier

log = logging.getLogger(__name__)


class LocalProcessesNotifier(Notifier):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self._key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
        self._sock: socket.socket | None = None
        self._out: socket.socket | None = None
        self._pid = 0

    def address(self, pid: int) -> str:
        return f"\0reelstream-wake-{self._key}-{pid}"

    async def start(self) -> None:
        if self._sock is not None:
            return
        self._pid = os.getpid()
        self.folder.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(self.address(self._pid))
        out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        out.setblocking(False)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)
        (self.folder / str(self._pid)).touch()
        self._sock, self._out = sock, out

    def _drain(self) -> None:
        assert self._sock is not None
        with contextlib.suppress(OSError):
            while self._sock.recv(16):
                pass
        self.wake_local()

    def _broadcast(self) -> None:
        if self._out is None:
            return
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            if not name.isdigit() or int(name) == self._pid:
                continue
            try:
                self._out.sendto(b"1", self.address(int(name)))
            except (ConnectionRefusedError, FileNotFoundError):  # that process is gone
                with contextlib.suppress(OSError):
                    (self.folder / name).unlink()
            except OSError as exc:  # its queue is full: it is awake already
                log.debug("wake-up to pid %s not sent: %s", name, exc)

    async def close(self) -> None:
        if self._sock is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        if self._out is not None:
            self._out.close()
        with contextlib.suppress(OSError):
            (self.folder / str(self._pid)).unlink()
        self._sock = self._out = None
