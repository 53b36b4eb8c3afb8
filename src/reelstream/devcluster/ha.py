"""The highly available PostgreSQL of the local cluster: etcd + two Patroni nodes + fencing.

``HaPostgres`` starts a three-member etcd, the Patroni nodes pg-1 and pg-2 (whichever
Patroni wins the leader race is primary, the other streams from it), and the emulated
watchdog (``watchdog.py``) that kills a primary whose Patroni stopped answering for itself.
``heal()`` is for the cluster's supervisor loop: it restarts a dead etcd member or Patroni
(a node the watchdog killed comes back as a replica via ``pg_rewind``).

``replication_link`` (default: none) names the port through which each node is reached by
the other (Patroni's ``connect_address``: streaming replication, cloning, rewinding); the
failover benchmark puts a delaying proxy there to stand for the network between machines.

Clients find the primary by themselves: the writer URL names both nodes with
``target_session_attrs=read-write``, the replica URL names both with ``prefer-standby``.

Layout under the cluster's data dir::

    etcd/etcd-N/        each etcd member's data; etcd/ports.json its ports
    postgres/pg-N/      each node's PostgreSQL data (persists between runs)
    postgres/pg-N.yml   each node's Patroni config (rewritten on every start)
    logs/etcd-N.log, logs/patroni-pg-N.log (PostgreSQL's own log lines go there too)
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from reelstream.devcluster.etcd import EtcdCluster
from reelstream.devcluster.patroni import PatroniNode, Replication, dynamic_config, find_patroni
from reelstream.devcluster.postgres import PG_BIN, chown_postgres
from reelstream.devcluster.process import AS_ROOT, StartError, free_port, tail
from reelstream.devcluster.watchdog import WatchdogEmulator

NODES = ("pg-1", "pg-2")
START_TIMEOUT_S = 180
Expose = Callable[[str, int], int]


def _identity(_name: str, port: int) -> int:
    return port


class HaPostgres:
    """etcd + Patroni pg-1/pg-2 under ``data_dir`` (see the module docstring)."""

    def __init__(
        self,
        data_dir: Path,
        logs_dir: Path,
        replication: Replication = "sync",
        *,
        expose: Expose = _identity,
        replication_link: Expose = _identity,
    ) -> None:
        self.root = data_dir / "postgres"
        self.logs_dir = logs_dir
        self.replication: Replication = replication
        self.expose = expose
        self.replication_link = replication_link
        self.etcd = EtcdCluster(data_dir / "etcd", logs_dir)
        self.watchdog = WatchdogEmulator()
        binary = find_patroni() or "/usr/bin/patroni"
        self.nodes = [
            PatroniNode(n, self.root, logs_dir, free_port(), free_port(), binary) for n in NODES
        ]
        self._stopping = False
        self.last_roles: dict[str, str | None] = {}

    # -- start / stop
    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        chown_postgres(self.root)
        self._adopt_old_layout()
        self.etcd.start()
        owner = "postgres" if AS_ROOT else None
        for node in self.nodes:
            node.connect_port = self.replication_link(f"replication-{node.name}", node.port)
            node.write_config(self.etcd.hosts, self.replication)
            self.watchdog.add(node.name, node.watchdog_path, self._fence(node), owner)
        self.watchdog.start()
        for node in self.nodes:
            node.start()
        self.wait_healthy(timeout)
        self._apply_dynamic_config()
        self.wait_healthy(timeout)

    def _adopt_old_layout(self) -> None:
        """A data dir from before Patroni (postgres/primary + standby/): the primary's data
        becomes pg-1; pg-2 is cloned from it again."""
        old = self.root / "primary"
        if (old / "PG_VERSION").is_file() and not (self.root / NODES[0]).exists():
            old.rename(self.root / NODES[0])
            shutil.rmtree(self.root / "standby", ignore_errors=True)

    def _fence(self, node: PatroniNode) -> Callable[[], None]:
        def fire() -> None:
            if not self._stopping:
                node.kill("node")

        return fire

    def set_replication(self, replication: Replication, timeout: float = START_TIMEOUT_S) -> None:
        """Switch a running pair to synchronous or asynchronous replication."""
        self.replication = replication
        self._apply_dynamic_config()
        self.wait_healthy(timeout)

    def _apply_dynamic_config(self) -> None:
        """Make etcd's copy of the cluster-wide settings match this run's (``--pg-replication``
        may have changed since the cluster was bootstrapped)."""
        primary = self.primary()
        if primary is None:
            raise StartError("no PostgreSQL primary to configure")
        resp = httpx.patch(
            f"{primary.api_url}/config", json=dynamic_config(self.replication), timeout=10
        )
        if resp.status_code != 200:
            raise StartError(f"Patroni refused the configuration: {resp.status_code} {resp.text}")

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        """Wait for one primary and one streaming replica (a synchronous one in sync mode)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise StartError(f"patroni {node.name} exited:\n{tail(node.log_path)}")
            if self.healthy():
                return
            time.sleep(0.3)
        logs = "\n".join(f"--- {n.name}\n{tail(n.log_path, 2000)}" for n in self.nodes)
        raise StartError(f"PostgreSQL (Patroni) not healthy within {timeout:.0f} s:\n{logs}")

    def healthy(self) -> bool:
        primary, replica = self.primary(), self.replica()
        if primary is None or replica is None:
            return False
        standby = "sync" if self.replication == "sync" else "replica"
        return replica.check(standby) and self._streaming(primary)

    @staticmethod
    def _streaming(primary: PatroniNode) -> bool:
        status = primary.status() or {}
        return any(r.get("state") == "streaming" for r in status.get("replication", []))

    def stop(self) -> None:
        """Replicas first, then the primary (no needless failover), then etcd."""
        self._stopping = True
        for node in sorted(self.nodes, key=lambda n: n.role() == "primary"):
            self.watchdog.disarm(node.name)
            node.stop()
        self.watchdog.stop()
        self.etcd.stop()

    # -- supervision
    def heal(self) -> list[str]:
        """Restart dead etcd members and Patroni processes; say what happened."""
        news = self.watchdog.news()
        news += self.etcd.heal()
        if self._stopping:
            return news
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is not None:
                # A postmaster it left running is adopted by the new Patroni (as after a
                # restart under systemd); the watchdog still fences it if that takes too long.
                code = node.proc.returncode
                node.start()
                news.append(f"patroni {node.name} exited with code {code}; restarted")
        return news

    # -- who is who
    def primary(self) -> PatroniNode | None:
        return next((n for n in self.nodes if n.role() == "primary"), None)

    def replica(self) -> PatroniNode | None:
        return next((n for n in self.nodes if n.role() == "replica"), None)

    def roles(self) -> dict[str, str | None]:
        return {n.name: n.role() for n in self.nodes}

    def roles_changed(self) -> bool:
        """Whether the nodes' roles differ from the last call's (``last_roles``)."""
        roles = self.roles()
        changed, self.last_roles = roles != self.last_roles, roles
        return changed

    def wait_primary(self, timeout: float = 60, not_: PatroniNode | None = None) -> PatroniNode:
        """The primary (other than ``not_``) once one accepts writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node is not not_ and node.check("primary"):
                    return node
            time.sleep(0.2)
        raise StartError(f"no new primary within {timeout:.0f} s: {self.roles()}")

    # -- URLs
    def _hosts(self, direct: bool) -> str:
        ports = [
            n.port if direct else self.expose(f"postgres-{n.name}", n.port) for n in self.nodes
        ]
        return ",".join(f"127.0.0.1:{port}" for port in ports)

    def writer_url(self, database: str, *, direct: bool = False) -> str:
        """Both nodes; a connection lands on whichever accepts writes. The roles' URL goes
        through ``expose``; ``direct`` names the servers' own ports (for cluster.json)."""
        return (
            f"postgresql+asyncpg://postgres@{self._hosts(direct)}/{database}"
            "?target_session_attrs=read-write"
        )

    def replica_url(self, database: str, *, direct: bool = False) -> str:
        """Both nodes; a connection prefers a standby and falls back to the primary."""
        return (
            f"postgresql+asyncpg://postgres@{self._hosts(direct)}/{database}"
            "?target_session_attrs=prefer-standby"
        )

    def psql(self, node: PatroniNode, sql: str, database: str = "postgres") -> str:
        import subprocess

        where = ["-h", "127.0.0.1", "-p", str(node.port), "-U", "postgres", "-d", database]
        out = subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql, *where],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise StartError(f"psql {sql!r} on {node.name} failed: {out.stderr}")
        return out.stdout.strip()

    def ensure_database(self, name: str) -> None:
        if not name.isidentifier():
            raise ValueError(f"unusable database name {name!r}")
        primary = self.wait_primary()
        if not self.psql(primary, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):  # noqa: S608
            self.psql(primary, f"CREATE DATABASE {name}")

    # -- manifest
    def processes(self, database: str) -> list[dict[str, Any]]:
        """cluster.json entries: postgres (current roles), patroni-N, etcd-N."""
        out: list[dict[str, Any]] = []
        for node in self.nodes:
            role = node.role()
            pid = node.postmaster_pid()
            if pid is not None and role is not None:
                out.append(
                    {
                        "name": f"postgres-{node.name}",
                        "role": f"postgres-{role}",
                        "node": node.name,
                        "pid": pid,
                        "url": node.dsn(database),
                        "data": str(node.data),
                        "log": str(node.log_path),
                    }
                )
            if node.pid is not None:
                out.append(
                    {
                        "name": f"patroni-{node.name}",
                        "role": "patroni",
                        "node": node.name,
                        "pid": node.pid,
                        "url": node.api_url,
                        "log": str(node.log_path),
                    }
                )
        for member in self.etcd.members:
            if member.pid is not None:
                out.append(
                    {
                        "name": member.name,
                        "role": "etcd",
                        "pid": member.pid,
                        "url": member.client_url,
                        "log": str(member.log_path),
                    }
                )
        return out

    def manifest(self) -> dict[str, Any]:
        return {
            "pg_replication": self.replication,
            "postgres_nodes": [
                {"name": n.name, "port": n.port, "patroni_url": n.api_url, "data": str(n.data)}
                for n in self.nodes
            ],
            "etcd_urls": self.etcd.client_urls,
        }
