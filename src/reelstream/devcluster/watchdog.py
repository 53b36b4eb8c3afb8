"""An emulated hardware watchdog for the Patroni nodes of the local cluster (fencing).

Why: Patroni keeps the primary's leader lock in etcd for ``ttl`` seconds. If the primary's
Patroni dies or freezes, its PostgreSQL keeps accepting writes, the lock expires, and the
other node is promoted: two primaries (split brain). Production Patroni prevents that with
``/dev/watchdog``: while it holds the lock it arms the watchdog with a timeout of
``ttl - safety_margin`` and pings it on every loop; a Patroni that stops pinging gets its
machine rebooted *before* the lock can expire. This machine has no watchdog device, and a
real one (``softdog``) would reboot the whole shared host.

So each node gets a FIFO as its "device", and Patroni's own watchdog code talks to it through
its ``testing`` driver (``watchdog.driver: testing``), which speaks the kernel protocol as
plain writes: ``Ctimeout=N\\n`` when arming (the ioctl), ``1`` per keepalive, ``V`` (the magic
close) when Patroni disarms it on demotion or a clean stop. This module is the kernel side:
a thread reads every FIFO, and when an armed device misses its deadline it "reboots the
machine": ``on_fire`` SIGKILLs that node's Patroni and its PostgreSQL. A close without ``V``
(Patroni SIGKILLed) leaves the timer running, as the kernel does. The cluster's supervisor
then restarts the node's Patroni, which rejoins as a replica (``pg_rewind``).

Patroni runs with ``watchdog.mode: required``: it refuses to become primary unless its
watchdog could be armed with a safe timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TICK_S = 0.1


@dataclass
class _Device:
    name: str
    path: Path
    on_fire: Callable[[], None]
    read_fd: int = -1
    hold_fd: int = -1  # our own writer: the FIFO never reads EOF when Patroni closes it
    buffer: bytes = b""
    timeout: float = 0.0
    deadline: float | None = None  # armed while set
    fired: list[float] = field(default_factory=list)


class WatchdogEmulator:
    """The "kernel" side of one FIFO watchdog device per node (see the module docstring)."""

    def __init__(self) -> None:
        self._devices: dict[int, _Device] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._news: list[str] = []

    def add(self, name: str, path: Path, on_fire: Callable[[], None], owner: str | None) -> None:
        """Create the FIFO ``path`` (writable by ``owner``) and watch it."""
        path.unlink(missing_ok=True)
        os.mkfifo(path, 0o600)
        if owner is not None:
            os.chown(path, *_ids(owner))
        device = _Device(name, path, on_fire)
        device.read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        device.hold_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        with self._lock:
            self._devices[device.read_fd] = device

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def armed(self, name: str) -> bool:
        with self._lock:
            return any(d.deadline is not None for d in self._devices.values() if d.name == name)

    def news(self) -> list[str]:
        """What fired since the last call."""
        with self._lock:
            news, self._news = self._news, []
        return news

    def disarm(self, name: str) -> None:
        """Forget a pending deadline (the node was stopped on purpose)."""
        with self._lock:
            for device in self._devices.values():
                if device.name == name:
                    device.deadline = None

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                fds = list(self._devices)
            readable, _, _ = select.select(fds, [], [], TICK_S) if fds else ([], [], [])
            now = time.monotonic()
            due: list[_Device] = []
            with self._lock:
                for fd in readable:
                    device = self._devices.get(fd)
                    if device is not None:
                        with contextlib.suppress(BlockingIOError):
                            self._feed(device, os.read(fd, 4096), now)
                for device in self._devices.values():
                    if device.deadline is not None and now > device.deadline:
                        device.deadline = None
                        device.fired.append(now)
                        due.append(device)
                        self._news.append(
                            f"watchdog of {device.name} expired (no keepalive for "
                            f"{device.timeout:.0f} s): node killed as a reboot would"
                        )
            for device in due:
                log.warning("watchdog %s fired", device.name)
                try:
                    device.on_fire()
                except Exception:
                    log.exception("watchdog action for %s failed", device.name)

    @staticmethod
    def _feed(device: _Device, data: bytes, now: float) -> None:
        """Apply what Patroni wrote: ``Ctimeout=N\\n`` arms, ``1`` pings, ``V`` disarms."""
        device.buffer += data
        while device.buffer:
            if device.buffer.startswith(b"C"):
                line, sep, rest = device.buffer.partition(b"\n")
                if not sep:
                    return  # the rest of the command is still on its way
                key, _, value = line[1:].decode(errors="replace").partition("=")
                if key == "timeout":
                    device.timeout = float(value)
                    device.deadline = now + device.timeout
                device.buffer = rest
                continue
            char, device.buffer = device.buffer[:1], device.buffer[1:]
            if char == b"V":
                device.deadline = None
            elif device.timeout > 0:  # any other write is a keepalive (and arms it)
                device.deadline = now + device.timeout

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            for device in self._devices.values():
                for fd in (device.read_fd, device.hold_fd):
                    with contextlib.suppress(OSError):
                        os.close(fd)
                device.path.unlink(missing_ok=True)
            self._devices.clear()


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
