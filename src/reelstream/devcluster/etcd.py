"""A three-member etcd cluster on loopback: the store Patroni keeps its leader lock in.

Three members so that one can die (or freeze) and the other two still form a quorum. Each
member keeps its data under ``<root>/<name>/``; its log goes to ``<logs>/<name>.log``.

etcd remembers every member's *peer* URL inside its data, so a member restarted on another
peer port could not talk to the others: the peer and client ports are kept in
``<root>/ports.json`` and reused on the next run. When one of them is taken by then, the
etcd data is wiped and a fresh cluster is formed on new ports. That loses nothing that
matters: the leader lock and member keys expire anyway, and Patroni writes the rest again
from the PostgreSQL data dirs (the running primary re-creates the cluster's initialize key).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from reelstream.devcluster.process import (
    exited,
    free_port,
    port_free,
    spawn,
    stop_process,
    tail,
    wait_until,
    which,
)

ETCD_BINARY = "/usr/bin/etcd"
MEMBERS = 3
START_TIMEOUT_S = 60


def find_etcd() -> str | None:
    return which("etcd") or which(ETCD_BINARY)


@dataclass
class EtcdMember:
    name: str
    data: Path
    log_path: Path
    client_port: int
    peer_port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def healthy(self, timeout: float = 2) -> bool:
        """Whether this member answers /health with a quorum behind it."""
        try:
            resp = httpx.get(f"{self.client_url}/health", timeout=timeout)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and resp.json().get("health") == "true"


class EtcdCluster:
    """Start, watch and stop the etcd members (``start`` waits for a healthy quorum)."""

    def __init__(self, root: Path, logs_dir: Path, binary: str | None = None) -> None:
        self.root = root
        self.logs_dir = logs_dir
        self.binary = binary or find_etcd() or ETCD_BINARY
        self.members: list[EtcdMember] = []

    @property
    def client_urls(self) -> list[str]:
        return [m.client_url for m in self.members]

    @property
    def hosts(self) -> list[str]:
        """``host:port`` of every member's client endpoint (Patroni's ``etcd3.hosts``)."""
        return [f"127.0.0.1:{m.client_port}" for m in self.members]

    def _plan(self) -> None:
        """Pick the members' ports: last run's when all are free, else new ones on wiped data."""
        self.root.mkdir(parents=True, exist_ok=True)
        ports_path = self.root / "ports.json"
        names = [f"etcd-{i}" for i in range(1, MEMBERS + 1)]
        saved: dict[str, list[int]] = {}
        if ports_path.exists():
            saved = json.loads(ports_path.read_text())
        usable = set(saved) == set(names) and all(
            port_free(p) for ports in saved.values() for p in ports
        )
        if not usable:
            for name in names:
                shutil.rmtree(self.root / name, ignore_errors=True)
            saved = {name: [free_port(), free_port()] for name in names}
            ports_path.write_text(json.dumps(saved) + "\n")
        self.members = [
            EtcdMember(
                name=name,
                data=self.root / name,
                log_path=self.logs_dir / f"{name}.log",
                client_port=saved[name][0],
                peer_port=saved[name][1],
            )
            for name in names
        ]

    def _argv(self, member: EtcdMember) -> list[str]:
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        return [
            self.binary,
            "--name", member.name,
            "--data-dir", str(member.data),
            "--listen-client-urls", member.client_url,
            "--advertise-client-urls", member.client_url,
            "--listen-peer-urls", member.peer_url,
            "--initial-advertise-peer-urls", member.peer_url,
            "--initial-cluster", cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", "reelstream",
            # a loaded 2-core machine: slower raft ticks than the 100/1000 ms default, so a
            # busy member is not voted out (an etcd leader change stalls Patroni's loops)
            "--heartbeat-interval", "250",
            "--election-timeout", "2500",
            "--logger", "zap",
            "--log-level", "warn",
            "--quota-backend-bytes", str(256 * 1024 * 1024),
        ]  # fmt: skip

    def start_member(self, member: EtcdMember) -> None:
        member.proc = spawn(self._argv(member), member.log_path)

    def start(self) -> None:
        self._plan()
        for member in self.members:
            self.start_member(member)
        for member in self.members:
            assert member.proc is not None
            wait_until(
                member.healthy,
                timeout=START_TIMEOUT_S,
                what=f"{member.name} (etcd)",
                failed=exited(member.proc, member.log_path),
                interval=0.2,
            )

    def healthy(self) -> bool:
        """Whether a quorum answers (any member reporting healthy)."""
        return any(m.healthy() for m in self.members if m.pid is not None)

    def heal(self) -> list[str]:
        """Restart members whose process exited; a message for each."""
        news = []
        for member in self.members:
            if member.proc is not None and member.proc.poll() is not None:
                code = member.proc.returncode
                self.start_member(member)
                news.append(f"{member.name} exited with code {code}; restarted")
        return news

    def pids(self) -> dict[str, int]:
        return {m.name: m.pid for m in self.members if m.pid is not None}

    def log(self, member: EtcdMember) -> str:
        return tail(member.log_path)

    def stop(self) -> None:
        for member in self.members:
            if member.proc is not None:
                stop_process(member.proc, timeout=10)
