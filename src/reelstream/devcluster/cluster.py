"""The local cluster (``reelstream cluster up``): every engine and role on one machine.

Start order: PostgreSQL (etcd + two Patroni nodes, ``ha.py``), Redis and Swift (in parallel),
the database and bucket, migrations (once), then N api, N origin and N worker processes and the
nginx edge in front of them, and (``ClusterSpec.monitoring``) Prometheus, Alertmanager and the
exporters, started while the roles come up. Stop order is the reverse: monitoring, roles, edge,
engines. Everything listens on 127.0.0.1.

Layout of the data dir::

    cluster.json          URLs, and every process with its pid and role (written when ready)
    cluster.lock          held while a cluster runs from this folder
    secrets/              the signing keys every role and the edge share (generated once),
                          and admin-token: the access token of the cluster's admin user
    etcd/                 the three etcd members' data (Patroni's leader lock lives there)
    postgres/             pg-1/ and pg-2/ data folders (persist between runs), Patroni configs
    swift/                rings, configs and the three devices under srv/ (objects persist)
    redis/                scratch (Redis runs without persistence: it is only a cache)
    edge/                 nginx.conf, its token script, cache/, logs/access.log, logs/error.log
    monitoring/           Prometheus and Alertmanager: configs, rules, data (``monitoring.py``)
    roles/<name>/         scratch of each role process (tus part buffers, transcode work)
    logs/<name>.log       stdout/stderr of every process
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from reelstream.devcluster.ha import HaPostgres
from reelstream.devcluster.monitoring import MonitoringSpec, MonitoringStack, watch
from reelstream.devcluster.nginx import NginxEdge
from reelstream.devcluster.patroni import Replication
from reelstream.devcluster.postgres import (
    chown_postgres,
    writable_by_postgres,
)
from reelstream.devcluster.process import (
    AS_ROOT,
    StartError,
    alive,
    free_port,
    port_free,
    process_tree,
    stop_all,
    tail,
    wait_until,
)
from reelstream.devcluster.redis import RedisServer, find_redis
from reelstream.devcluster.requirements import APT_PACKAGES as APT_PACKAGES
from reelstream.devcluster.requirements import ClusterError as ClusterError
from reelstream.devcluster.requirements import check_requirements
from reelstream.devcluster.requirements import missing_requirements as missing_requirements
from reelstream.devcluster.roles import RoleName, RoleProcess
from reelstream.devcluster.supervisor import Supervisor
from reelstream.devcluster.swift import SwiftCluster, supports_xattrs
from reelstream.edge import render
from reelstream.edge.config import edge_config

DEFAULT_EDGE_PORT = 8080
ROLE_READY_TIMEOUT_S = 180
SIGNING_KEY_ID = "k1"


@dataclass(frozen=True)
class ClusterSpec:
    data_dir: Path
    apis: int = 2
    origins: int = 2
    workers: int = 2
    http_workers: int = 1
    """Server processes behind each api and origin port (their ``--workers``)."""
    edge_port: int | None = None
    """None: 8080 when it is free, else any free port."""
    database: str = "reelstream"
    bucket: str = "reelstream"
    pg_replication: Replication = "sync"
    """PostgreSQL standby: "sync" (an acknowledged write is on both nodes) or "async"."""
    pythonpath: str | None = None
    """PYTHONPATH of the release the roles and the first migration run (an installed
    artifact, ``devcluster.artifact``); None: the code running the cluster."""
    migrate_phase: str = "all"
    """How far the first migration goes (``reelstream migrate --phase``)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment of every role (over this process's), e.g. raised rate limits."""
    interpose: Callable[[str, int], int] | None = None
    """Called once per link (``"redis"``, ``"swift-proxy"``, ``"postgres-<server>"``, and each
    origin/api behind the edge by name) with the real port; returns the port the other side
    dials instead (the chaos campaign puts a fault proxy there). None: direct links."""
    monitoring: MonitoringSpec | None = None
    """Run Prometheus, Alertmanager and the exporters (``reelstream cluster up`` does unless
    ``--no-monitoring``); None: no monitoring stack."""


class LocalCluster:
    """Start, watch and stop the whole cluster described by a ``ClusterSpec``."""

    def __init__(self, spec: ClusterSpec, echo: Callable[[str], None] = print) -> None:
        self.spec = spec
        self.echo = echo
        self.data_dir = spec.data_dir.expanduser().resolve()
        self.logs_dir = self.data_dir / "logs"
        self.manifest_path = self.data_dir / "cluster.json"
        self.pg: HaPostgres | None = None
        self.redis: RedisServer | None = None
        self.swift: SwiftCluster | None = None
        self.edge: NginxEdge | None = None
        self.roles: list[RoleProcess] = []
        self.monitoring: MonitoringStack | None = None
        self.edge_url = ""
        self.admin_token = ""
        self._lock: TextIO | None = None
        self._exposed: dict[tuple[str, int], int] = {}
        self.supervisor = Supervisor(self)
        self._stopping = False
        self._written_pids: list[tuple[str, int]] = []

    # -- start
    def start(self) -> None:
        check_requirements(monitoring=self.spec.monitoring is not None)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self.manifest_path.unlink(missing_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        keys = self._signing_keys()
        edge_port = self._edge_port()
        self.edge_url = f"http://127.0.0.1:{edge_port}"

        t0 = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            jobs = [pool.submit(f) for f in (self._start_pg, self._start_redis, self._start_swift)]
            for job in jobs:
                job.result()
        assert self.pg is not None
        assert self.redis is not None
        assert self.swift is not None
        self.pg.ensure_database(self.spec.database)
        self.swift.ensure_bucket(self.spec.bucket)
        self.echo(f"engines up in {time.monotonic() - t0:.1f} s; running migrations")

        env = self._role_env(keys)
        self._migrate(env)
        self.admin_token = self._admin(env)
        self.roles = self._plan_roles(env)
        for role in self.roles:
            role.start()
        status_port = free_port() if self.spec.monitoring is not None else None
        self._start_edge(edge_port, keys, status_port)
        if self.spec.monitoring is not None and status_port is not None:
            self.monitoring = watch(self, self.spec.monitoring, status_port)
        with ThreadPoolExecutor(max(1, len(self.roles))) as pool:
            for job in [pool.submit(r.wait_ready, ROLE_READY_TIMEOUT_S) for r in self.roles]:
                job.result()
        if self.monitoring is not None:
            self.monitoring.wait_ready()
        wait_until(
            lambda: httpx.get(f"{self.edge_url}/readyz", timeout=5).status_code == 200,
            timeout=60,
            what="the edge (/readyz through nginx)",
        )
        self._write_manifest()
        self.echo(f"cluster ready in {time.monotonic() - t0:.1f} s")

    def _take_lock(self) -> None:
        lock = (self.data_dir / "cluster.lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ClusterError(
                f"another `reelstream cluster up` is running from {self.data_dir}"
            ) from None
        self._lock = lock

    def _signing_keys(self) -> dict[str, str]:
        path = self.data_dir / "secrets" / "signing-keys.json"
        if path.exists():
            keys: dict[str, str] = json.loads(path.read_text())
            return keys
        path.parent.mkdir(mode=0o700, exist_ok=True)
        keys = {SIGNING_KEY_ID: secrets.token_urlsafe(48)}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(keys, f)
        return keys

    def _edge_port(self) -> int:
        if self.spec.edge_port is not None:
            if not port_free(self.spec.edge_port):
                raise ClusterError(f"port {self.spec.edge_port} is in use; pick another edge port")
            return self.spec.edge_port
        return DEFAULT_EDGE_PORT if port_free(DEFAULT_EDGE_PORT) else free_port()

    def _start_pg(self) -> None:
        root = self.data_dir / "postgres"
        root.mkdir(exist_ok=True)
        chown_postgres(root)
        if not writable_by_postgres(root):
            raise ClusterError(
                f"PostgreSQL runs as the postgres user, which cannot write to {root}: make "
                "every folder above it traversable (chmod o+x) or choose another --data-dir"
            )
        self.pg = HaPostgres(
            self.data_dir, self.logs_dir, self.spec.pg_replication, expose=self._expose
        )
        self.pg.start()

    def _start_redis(self) -> None:
        binary = find_redis()
        assert binary is not None
        self.redis = RedisServer(
            binary, self.data_dir / "redis", log_path=self.logs_dir / "redis.log"
        )
        self.redis.start()

    def _start_swift(self) -> None:
        root = self.data_dir / "swift"
        root.mkdir(exist_ok=True)
        if not supports_xattrs(root):
            raise ClusterError(
                f"{root} is on a filesystem without extended attributes, which Swift needs "
                "for its devices: choose a --data-dir on ext4 or xfs"
            )
        self.swift = SwiftCluster(root, self.logs_dir)
        self.swift.start()

    # -- roles
    def _expose(self, name: str, port: int) -> int:
        """The port through which the roles (or the edge) reach ``name`` listening on ``port``:
        ``port`` itself, or what ``ClusterSpec.interpose`` returns (asked once per link)."""
        if self.spec.interpose is None:
            return port
        if (name, port) not in self._exposed:
            self._exposed[name, port] = self.spec.interpose(name, port)
        return self._exposed[name, port]

    @property
    def writer_url(self) -> str:
        assert self.pg is not None
        return self.pg.writer_url(self.spec.database)

    @property
    def replica_url(self) -> str:
        assert self.pg is not None
        return self.pg.replica_url(self.spec.database)

    def _role_env(self, keys: dict[str, str]) -> dict[str, str]:
        assert self.redis is not None
        assert self.swift is not None
        env = dict(os.environ) | dict(self.spec.env)
        env.setdefault("REELSTREAM_SHUTDOWN_GRACE_S", "10")
        # JSON lines with the request id (docs/deploy.md, "Logs"); nothing here parses the
        # role logs but for a worker's start line (roles.WORKER_STARTED), a substring of both
        env.setdefault("REELSTREAM_LOG_FORMAT", "json")
        redis_port = self._expose("redis", self.redis.port)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "REELSTREAM_ENV": "production",
                "REELSTREAM_DATABASE_URL": self.writer_url,
                "REELSTREAM_DATABASE_REPLICA_URL": self.replica_url,
                "REELSTREAM_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "REELSTREAM_SIGNING_KEYS": json.dumps(keys),
                "REELSTREAM_SIGNING_KEY_ID": SIGNING_KEY_ID,
                "REELSTREAM_PUBLIC_BASE_URL": self.edge_url,
            }
        )
        settings = self.swift.settings(self.spec.bucket)
        proxy_port = self._expose("swift-proxy", int(self.swift.endpoint_url.rsplit(":", 1)[1]))
        settings["s3_endpoint_url"] = f"http://127.0.0.1:{proxy_port}"
        env.update({f"REELSTREAM_{k.upper()}": v for k, v in settings.items()})
        if self.spec.pythonpath is not None:
            env["PYTHONPATH"] = self.spec.pythonpath
        return env

    def _migrate(self, env: dict[str, str]) -> None:
        log_path = self.logs_dir / "migrate.log"
        argv = [sys.executable, "-m", "reelstream", "migrate"]
        argv += ["--data-dir", str(self.data_dir / "roles" / "migrate")]
        if self.spec.migrate_phase != "all":  # (a release before the phases has no --phase)
            argv += ["--phase", self.spec.migrate_phase]
        with log_path.open("ab") as log:
            out = subprocess.run(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=300, check=False
            )
        if out.returncode != 0:
            raise StartError(f"migrations failed:\n{tail(log_path)}")

    def _admin(self, env: dict[str, str]) -> str:
        """The admin's access token: the user ``admin`` is created once (``reelstream users
        create admin --admin``) and its token kept in ``secrets/admin-token``."""
        path = self.data_dir / "secrets" / "admin-token"
        if path.exists():
            return path.read_text().strip()
        argv = [sys.executable, "-m", "reelstream", "users", "create", "admin", "--admin"]
        argv += ["--data-dir", str(self.data_dir / "roles" / "migrate")]
        out = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if out.returncode != 0:
            raise StartError(f"cannot create the admin user: {out.stderr.strip()[-2000:]}")
        token = out.stdout.strip()
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token

    def _plan_roles(self, env: dict[str, str]) -> list[RoleProcess]:
        plan: list[tuple[RoleName, int]] = [
            ("api", self.spec.apis),
            ("origin", self.spec.origins),
            ("worker", self.spec.workers),
        ]
        roles = []
        for role, count in plan:
            for i in range(1, count + 1):
                name = f"{role}-{i}"
                roles.append(
                    RoleProcess(
                        name=name,
                        role=role,
                        data_dir=self.data_dir / "roles" / name,
                        log_path=self.logs_dir / f"{name}.log",
                        env=env,
                        port=None if role == "worker" else free_port(),
                        http_workers=self.spec.http_workers,
                        metrics_port=(
                            free_port()
                            if role == "worker" and self.spec.monitoring is not None
                            else None
                        ),
                    )
                )
        return roles

    def _urls(self, role: RoleName) -> list[str]:
        return [r.url for r in self.roles if r.role == role and r.url is not None]

    def _edge_upstreams(self, role: RoleName) -> list[str]:
        """The URLs the edge proxies to: each role's port, or its ``_expose``d stand-in."""
        return [
            f"http://127.0.0.1:{self._expose(r.name, r.port)}"
            for r in self.roles
            if r.role == role and r.port is not None
        ]

    def _start_edge(self, port: int, keys: dict[str, str], status_port: int | None) -> None:
        binary = render.find_nginx()
        assert binary is not None
        prefix = self.data_dir / "edge"
        config = edge_config(
            origins=self._edge_upstreams("origin"),
            apis=self._edge_upstreams("api"),
            listen=f"127.0.0.1:{port}",
            cache_dir=prefix / "cache",
            prefix=prefix,
            signing_keys=keys,
            cache_size="1g",
            keys_zone_size="8m",
            user="root" if AS_ROOT else None,
            worker_processes="2",
            status_listen=None if status_port is None else f"127.0.0.1:{status_port}",
        )
        self.edge = NginxEdge.write(config, prefix / "nginx.conf", binary)
        self.edge.start()

    # -- state
    def processes(self) -> list[dict[str, Any]]:
        """Every process of the cluster: name, role, pid, URL and log file."""
        out: list[dict[str, Any]] = [
            {"name": "cluster", "role": "cluster", "pid": os.getpid(), "log": None}
        ]
        if self.pg is not None:
            out += self.pg.processes(self.spec.database)
        if self.redis is not None and self.redis.pid is not None:
            redis = {"name": "redis", "role": "redis", "pid": self.redis.pid}
            out.append(redis | {"url": self.redis.url, "log": str(self.redis.log_path)})
        if self.swift is not None:
            for name, pid in self.swift.pids().items():
                role = name if name == "memcached" else f"swift-{name.rstrip('0123456789')}"
                entry = {"name": name, "role": role, "pid": pid}
                entry["log"] = str(self.swift.log_path(name))
                if name == "proxy":
                    entry["url"] = self.swift.endpoint_url
                out.append(entry)
        if self.edge is not None and self.edge.pid is not None:
            out.append(
                {
                    "name": "edge",
                    "role": "edge",
                    "pid": self.edge.pid,
                    "url": self.edge_url,
                    "log": str(self.edge.error_log_path),
                    "access_log": str(self.edge.access_log_path),
                }
            )
        for r in self.roles:
            if r.pid is not None:
                entry = {"name": r.name, "role": r.role, "pid": r.pid, "url": r.url}
                if r.metrics_port is not None:
                    entry["metrics_url"] = f"http://127.0.0.1:{r.metrics_port}/metrics"
                out.append(entry | {"log": str(r.log_path)})
        if self.monitoring is not None:
            out += self.monitoring.processes()
        return out

    def manifest(self) -> dict[str, Any]:
        assert self.pg is not None
        assert self.redis is not None
        assert self.swift is not None
        return {
            "edge_url": self.edge_url,
            "api_urls": self._urls("api"),
            "origin_urls": self._urls("origin"),
            "database_url": self.pg.writer_url(self.spec.database, direct=True),
            "database_replica_url": self.pg.replica_url(self.spec.database, direct=True),
            "redis_url": self.redis.url,
            "s3_endpoint_url": self.swift.endpoint_url,
            "s3_bucket": self.spec.bucket,
            "data_dir": str(self.data_dir),
            "logs_dir": str(self.logs_dir),
            "pid": os.getpid(),
            "admin_token": self.admin_token,
            "processes": self.processes(),
            **self.pg.manifest(),
            **(self.monitoring.manifest() if self.monitoring is not None else {}),
        }

    def refresh_manifest(self) -> None:
        """Rewrite cluster.json (after a failover: the postgres roles changed)."""
        if self.manifest_path.exists():
            self._write_manifest()

    def _write_manifest(self) -> None:
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.manifest(), indent=2) + "\n")
        tmp.replace(self.manifest_path)
        self._written_pids = self._pids()
        if self.monitoring is not None:
            self.monitoring.follow_roles(self.roles)

    def summary(self) -> Iterator[str]:
        """Lines for the terminal: URLs and where the logs are."""
        m = self.manifest()
        yield f"edge (open this):  {m['edge_url']}/"
        yield f"api:               {', '.join(m['api_urls'])}"
        yield f"origins:           {', '.join(m['origin_urls'])}"
        yield f"workers:           {sum(r.role == 'worker' for r in self.roles)} processes"
        yield f"postgres (writer): {m['database_url']}"
        yield f"postgres replica:  {m['database_replica_url']} ({m['pg_replication']})"
        yield f"redis:             {m['redis_url']}"
        yield f"s3 (swift):        {m['s3_endpoint_url']} bucket {m['s3_bucket']}"
        if "prometheus_url" in m:
            yield f"prometheus:        {m['prometheus_url']}/ (dashboards: docs/operations.md)"
            yield f"alertmanager:      {m['alertmanager_url']}/"
        yield f"logs:              {self.logs_dir}/ (edge: {self.data_dir / 'edge' / 'logs'}/)"
        yield f"pids:              {self.manifest_path}"
        yield f"admin token:       {self.admin_token} (user admin; also in {self.manifest_path})"

    def supervise(self) -> list[str]:
        """Restart processes that exited (see ``supervisor``), heal the PostgreSQL HA pair
        (``heal``) and rewrite cluster.json when a pid changed; one message per event. Call it
        about once a second."""
        if self._stopping:
            return []
        messages = self.supervisor.tick() + self.heal()
        if self._written_pids and self._pids() != self._written_pids:
            self._write_manifest()  # a restart here, or a failover or restart elsewhere
        return messages

    def _pids(self) -> list[tuple[str, int]]:
        return [(p["role"], p["pid"]) for p in self.processes()]

    def heal(self) -> list[str]:
        """Restart dead etcd members and Patroni processes (``ha.py``); rewrite cluster.json
        when the PostgreSQL roles changed (a failover). For the supervisor loop."""
        if self.pg is None:
            return []
        news = self.pg.heal()
        if self.pg.roles_changed():
            self.refresh_manifest()
            news.append(f"postgres roles now {self.pg.last_roles}; cluster.json rewritten")
        return news

    # -- stop
    def stop(self) -> list[int]:
        """Stop roles, then the edge, then the engines; return pids left running (none)."""
        self._stopping = True
        pids = process_tree(p["pid"] for p in self.processes() if p["role"] != "cluster")
        grace = float(os.environ.get("REELSTREAM_SHUTDOWN_GRACE_S", "10")) + 10
        if self.monitoring is not None:
            self.monitoring.stop()
        stop_all([r.proc for r in self.roles if r.proc is not None], timeout=grace)
        if self.edge is not None:
            self.edge.stop()
        if self.swift is not None:
            self.swift.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.pg is not None:
            self.pg.stop()
        left = alive(pids)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        return left
