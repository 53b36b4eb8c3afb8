"""One Patroni node of the local cluster: its generated config, process and REST API.

Patroni (the Debian package, ``/usr/bin/patroni``) runs PostgreSQL for us: it initdbs or
clones the data dir, starts postgres, holds the leader lock in etcd while it is primary,
promotes the standby when the primary's lock expires, and rewinds a former primary into a
replica (``pg_rewind``). The config is rewritten on every start because the ports change
between runs; the data dir (``<root>/<name>``) persists. Patroni runs as the ``postgres``
user when we are root, like the other PostgreSQL programs (see ``postgres.py``).

The timing is tuned for a failover in seconds (Patroni's defaults take about half a minute):
``ttl`` 10 s (the leader lock's lifetime), ``loop_wait`` 1 s, ``retry_timeout`` 4 s
(Patroni's rule ``loop_wait + 2 * retry_timeout <= ttl`` holds: 9 <= 10), and
``primary_start_timeout`` 0: a primary whose postgres crashed is failed over instead of
being restarted in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from reelstream.devcluster.postgres import CONFIG, PG_BIN
from reelstream.devcluster.process import AS_ROOT, alive, descendants, spawn, stop_process, which

PATRONI_BINARY = "/usr/bin/patroni"
SCOPE = "reelstream"
Replication = Literal["sync", "async"]
TTL_S = 10
LOOP_WAIT_S = 1
RETRY_TIMEOUT_S = 4
WATCHDOG_SAFETY_MARGIN_S = 5
"""The watchdog fires ``ttl - safety_margin`` = 5 s after Patroni's last keepalive, 5 s
before its leader lock could expire."""

# Parameters Patroni takes from the cluster-wide (dynamic) configuration only.
_DYNAMIC_PARAMETERS = {
    "max_connections", "max_wal_senders", "max_replication_slots", "wal_level", "hot_standby",
    "wal_keep_size", "max_prepared_transactions", "max_locks_per_transaction",
    "max_worker_processes", "track_commit_timestamp", "wal_log_hints",
}  # fmt: skip
# Set by Patroni itself from ``listen``.
_OWN_PARAMETERS = {"listen_addresses", "port"}


def find_patroni() -> str | None:
    return which("patroni") or which(PATRONI_BINARY)


def pg_parameters() -> tuple[dict[str, str], dict[str, str]]:
    """``postgres.CONFIG`` split into (local, cluster-wide) parameters for Patroni."""
    local: dict[str, str] = {}
    shared: dict[str, str] = {}
    for line in CONFIG.strip().splitlines():
        key, _, value = (part.strip() for part in line.partition("="))
        if not key or key in _OWN_PARAMETERS:
            continue
        value = value.strip("'")
        (shared if key in _DYNAMIC_PARAMETERS else local)[key] = value
    shared["wal_log_hints"] = "on"  # pg_rewind needs it (no data checksums)
    return local, shared


def dynamic_config(replication: Replication) -> dict[str, Any]:
    """The cluster-wide settings Patroni keeps in etcd (applied at bootstrap and on every
    start, so a changed ``--pg-replication`` takes effect)."""
    _, shared = pg_parameters()
    return {
        "ttl": TTL_S,
        "loop_wait": LOOP_WAIT_S,
        "retry_timeout": RETRY_TIMEOUT_S,
        "primary_start_timeout": 0,
        "maximum_lag_on_failover": 16 * 1024 * 1024,
        "synchronous_mode": replication == "sync",
        "synchronous_mode_strict": False,
        "failsafe_mode": True,
        "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": shared},
    }


@dataclass
class PatroniNode:
    """Patroni + PostgreSQL ``name`` (pg-1, pg-2) with data in ``<root>/<name>``."""

    name: str
    root: Path
    logs_dir: Path
    port: int
    api_port: int
    binary: str = PATRONI_BINARY
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    connect_port: int | None = None
    """Where the other node reaches this one (``postgresql.connect_address``: replication,
    ``pg_basebackup``, ``pg_rewind``); None = ``port``. A proxy's port puts a network between
    the nodes."""

    @property
    def data(self) -> Path:
        return self.root / self.name

    @property
    def config_path(self) -> Path:
        return self.root / f"{self.name}.yml"

    @property
    def watchdog_path(self) -> Path:
        return self.root / f"{self.name}.watchdog"

    @property
    def log_path(self) -> Path:
        return self.logs_dir / f"patroni-{self.name}.log"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def config(self, etcd_hosts: list[str], replication: Replication) -> dict[str, Any]:
        local, _ = pg_parameters()
        trust = ["host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust"]
        user = {"username": "postgres"}
        return {
            "scope": SCOPE,
            "namespace": "/reelstream/",
            "name": self.name,
            "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
            "restapi": {
                "listen": f"127.0.0.1:{self.api_port}",
                "connect_address": f"127.0.0.1:{self.api_port}",
            },
            "etcd3": {"hosts": etcd_hosts, "protocol": "http"},
            "bootstrap": {
                "dcs": dynamic_config(replication),
                "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.port}",
                "connect_address": f"127.0.0.1:{self.connect_port or self.port}",
                "data_dir": str(self.data),
                "bin_dir": str(PG_BIN),
                "pgpass": str(self.root / f"{self.name}.pgpass"),
                "use_unix_socket": False,
                "use_unix_socket_repl": False,
                "authentication": {"superuser": user, "replication": user, "rewind": user},
                "pg_hba": trust,
                "parameters": local,
                "pg_ctl_timeout": 60,
            },
            "watchdog": {
                "mode": "required",
                "driver": "testing",
                "device": str(self.watchdog_path),
                "safety_margin": WATCHDOG_SAFETY_MARGIN_S,
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }

    def write_config(self, etcd_hosts: list[str], replication: Replication) -> None:
        # JSON is YAML: no YAML writer needed
        self.config_path.write_text(json.dumps(self.config(etcd_hosts, replication), indent=2))
        if AS_ROOT:
            os.chown(self.config_path, *_postgres_ids())

    def start(self) -> None:
        env = dict(os.environ, PATRONICTL_CONFIG_FILE=str(self.config_path))
        if AS_ROOT:
            env["HOME"] = str(self.root)
        self.proc = spawn(
            [self.binary, str(self.config_path)],
            self.log_path,
            env=env,
            cwd=self.root,
            user="postgres" if AS_ROOT else None,
        )

    # -- REST API
    def status(self, timeout: float = 1.0) -> dict[str, Any] | None:
        """``GET /patroni`` (role, state, timeline, ...); None when it does not answer."""
        try:
            resp = httpx.get(f"{self.api_url}/patroni", timeout=timeout)
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        body: dict[str, Any] = resp.json()
        return body

    def check(self, endpoint: str, timeout: float = 1.0) -> bool:
        """Whether a health endpoint (``primary``, ``replica``, ``sync``, ...) answers 200."""
        try:
            return httpx.get(f"{self.api_url}/{endpoint}", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def role(self) -> str | None:
        """ "primary" or "replica" while postgres runs under a live Patroni, else None."""
        status = self.status()
        if status is None or status.get("state") != "running":
            return None
        return "primary" if status.get("role") in ("master", "primary") else "replica"

    # -- processes
    def postmaster_pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive([pid]) else None

    def crash_pids(self, what: Literal["node", "postgres", "patroni"] = "node") -> list[int]:
        """What ``kill(what)`` signals: Patroni and/or the postmaster with every process below."""
        pids: list[int] = []
        postmaster = self.postmaster_pid()
        if what in ("node", "patroni") and self.pid is not None:
            pids.append(self.pid)
        if what in ("node", "postgres") and postmaster is not None:
            pids += [postmaster, *sorted(descendants(postmaster))]
        return pids

    def kill(
        self,
        what: Literal["node", "postgres", "patroni"] = "node",
        *,
        pids: list[int] | None = None,
        signalled: Callable[[], None] | None = None,
    ) -> None:
        """SIGKILL PostgreSQL (the postmaster and its backends at once: a crashed server, no
        orphaned backend finishing a commit), Patroni, or both (a crashed machine).

        ``pids``: ``crash_pids(what)`` found beforehand (finding them reads ``/proc`` for some
        ms; the signals alone go out in microseconds). ``signalled`` is called right after the
        signals, before Patroni is reaped."""
        for pid in self.crash_pids(what) if pids is None else pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if signalled is not None:
            signalled()
        if what != "postgres" and self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    def stop(self) -> None:
        """SIGTERM Patroni (it stops postgres with a fast shutdown), then make sure."""
        if self.proc is not None:
            stop_process(self.proc, timeout=60)
        postmaster = self.postmaster_pid()
        if postmaster is not None:
            for pid in [postmaster, *sorted(descendants(postmaster))]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid
