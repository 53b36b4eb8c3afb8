"""Supervision of the local cluster: what systemd's ``Restart=always`` does for a host.

``reelstream cluster up`` calls ``Supervisor.tick`` about once a second. Every process the
cluster still owns (an api, origin or worker role in ``LocalCluster.roles``, the nginx edge,
Redis, each Swift server and memcached, the monitoring stack's processes) that has exited is
started again with the same argv on the same port, after a backoff that doubles while it keeps
dying young (0.5 s, 1 s, ... up to 10 s) and resets once it has run for ``STABLE_S``. Whatever
was left in the dead process's group (the nginx workers of a killed master, the ffmpeg of a
killed worker) is killed first, so the new process can bind its port. A role removed from
``LocalCluster.roles`` on purpose (a rolling upgrade replacing it) is not a unit any more and is
left alone. PostgreSQL is not supervised here: its HA manager (or the operator) owns it.

After any restart the caller rewrites cluster.json (the pids changed).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from reelstream.devcluster.process import StartError

if TYPE_CHECKING:
    from reelstream.devcluster.cluster import LocalCluster

MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
STABLE_S = 30.0
"""A process that ran this long before it died restarts after the smallest backoff again."""


@dataclass(frozen=True)
class Unit:
    """One supervised process: its current ``Popen`` and how to start it again."""

    name: str
    proc: subprocess.Popen[bytes] | None
    restart: Callable[[], None]
    log: Path


@dataclass
class _History:
    started_at: float
    backoff_s: float = MIN_BACKOFF_S
    retry_at: float | None = None  # set once the exit is seen


def _kill_leftovers(pid: int) -> None:
    """SIGKILL the rest of the dead process's group (each cluster process leads its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class Supervisor:
    """Restarts exited processes of one ``LocalCluster`` (call ``tick`` periodically)."""

    def __init__(self, cluster: LocalCluster, clock: Callable[[], float] = time.monotonic) -> None:
        self.cluster = cluster
        self.clock = clock
        self.restarts: dict[str, int] = {}
        self._history: dict[str, _History] = {}

    def units(self) -> list[Unit]:
        c = self.cluster
        units = [Unit(r.name, r.proc, r.start, r.log_path) for r in list(c.roles)]
        if c.edge is not None:
            units.append(Unit("edge", c.edge.proc, c.edge.start, c.edge.error_log_path))
        if c.redis is not None:
            redis = c.redis
            units.append(Unit("redis", redis.proc, redis.start, redis.log_path))
        if c.swift is not None:
            swift = c.swift
            for name, proc in list(swift.procs.items()):
                units.append(Unit(name, proc, partial(swift.restart, name), swift.log_path(name)))
        if c.monitoring is not None:
            units += [Unit(p.name, p.proc, p.start, p.log_path) for p in c.monitoring.procs]
        return units

    def tick(self) -> list[str]:
        """Restart what exited and may restart now; one message per exit and per restart."""
        now = self.clock()
        messages = []
        for unit in self.units():
            if unit.proc is None:
                continue
            history = self._history.setdefault(unit.name, _History(now))
            if unit.proc.poll() is None:
                continue
            if history.retry_at is None:  # first seen dead: schedule the restart
                if now - history.started_at >= STABLE_S:
                    history.backoff_s = MIN_BACKOFF_S
                history.retry_at = now + history.backoff_s
                messages.append(
                    f"{unit.name} (pid {unit.proc.pid}) exited with code "
                    f"{unit.proc.returncode}; restarting in {history.retry_at - now:.1f} s"
                )
            if now < history.retry_at:
                continue
            _kill_leftovers(unit.proc.pid)
            self._history[unit.name] = _History(now, min(history.backoff_s * 2, MAX_BACKOFF_S))
            try:
                unit.restart()
            except (StartError, OSError) as exc:
                self._history[unit.name].retry_at = None
                messages.append(f"{unit.name} did not restart: {exc}; see {unit.log}")
                continue
            self.restarts[unit.name] = self.restarts.get(unit.name, 0) + 1
            messages.append(f"{unit.name} restarted")
        return messages
