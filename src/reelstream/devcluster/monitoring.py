"""The local cluster's monitoring stack: Prometheus, Alertmanager and the engines' exporters.

``MonitoringStack`` is told every scrape target and every exporter to run by the cluster
(``cluster.py`` knows the ports), writes the configuration (``monitoring_config``) under
``<data>/monitoring/`` and spawns the processes without waiting for them, so they come up while
the roles do; ``wait_ready`` then checks Prometheus and Alertmanager. Each process is a
``MonitoredProcess`` the cluster's supervisor restarts like any other (same argv, same port).

Layout::

    monitoring/prometheus.yml     scrape targets, rule files, the Alertmanager
    monitoring/targets/<job>.json the api, origin and worker processes (rewritten by the
                                  cluster whenever its roles change: a restart on a new port,
                                  a rolling upgrade)
    monitoring/alertmanager.yml   routes by severity to the webhook (or nowhere)
    monitoring/rules/             the shipped rules (``reelstream.monitoring``), as rendered
    monitoring/prometheus/        Prometheus's TSDB (kept between runs)
    monitoring/alertmanager/      Alertmanager's silences and notification log
    logs/<process>.log            each process's output
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from reelstream.devcluster.monitoring_config import (
    ROLE_JOBS,
    Target,
    alertmanager_config,
    dump,
    file_targets,
    prometheus_config,
    render_rules,
)
from reelstream.devcluster.process import exited, free_port, spawn, stop_all, wait_until
from reelstream.devcluster.requirements import MONITORING_BINARIES as BINARIES
from reelstream.monitoring import MTAIL_DIR, RULES_DIR

if TYPE_CHECKING:
    from reelstream.devcluster.cluster import LocalCluster
    from reelstream.devcluster.roles import RoleProcess

# node exporter: pseudo filesystems only, so an overlay or tmpfs data dir is still covered
_PSEUDO_FS = (
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
    "mqueue|nsfs|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|sysfs|tracefs)$"
)


def _ready(url: str) -> bool:
    return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200


@dataclass(frozen=True)
class MonitoringSpec:
    interval_s: float = 15.0
    """Scrape and rule evaluation interval (tests use 1 s)."""
    alert_webhook: str | None = None
    """Where Alertmanager posts (loopback); None: alerts reach no one but its UI."""
    alert_for: Mapping[str, str] = field(default_factory=dict)
    """Alert name -> ``for:`` used instead of the shipped one (tests and drills)."""


@dataclass
class MonitoredProcess:
    """One process of the stack; ``start`` (re)spawns it with the same argv and port."""

    name: str
    role: str
    argv: list[str]
    log_path: Path
    port: int
    env: Mapping[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        self.proc = spawn(self.argv, self.log_path, env=self.env)


class MonitoringStack:
    """Prometheus + Alertmanager + exporters of one cluster (see the module docstring)."""

    def __init__(self, root: Path, logs_dir: Path, spec: MonitoringSpec) -> None:
        self.root = root
        self.logs_dir = logs_dir
        self.spec = spec
        self.procs: list[MonitoredProcess] = []
        self.targets: list[Target] = []
        self.prometheus = self._add(
            "prometheus",
            "prometheus",
            lambda port: [
                BINARIES["prometheus"],
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'prometheus'}",
                "--storage.tsdb.retention.time=7d",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            job="prometheus",
        )
        self.alertmanager = self._add(
            "alertmanager",
            "alertmanager",
            lambda port: [
                BINARIES["alertmanager"],
                f"--config.file={root / 'alertmanager.yml'}",
                f"--storage.path={root / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip port: one Alertmanager
            ],
            job="alertmanager",
        )

    def _add(
        self,
        name: str,
        role: str,
        argv: Callable[[int], list[str]],
        *,
        job: str,
        instance: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> MonitoredProcess:
        port = free_port()
        proc = MonitoredProcess(name, role, argv(port), self.logs_dir / f"{name}.log", port, env)
        self.procs.append(proc)
        self.targets.append(Target(job, instance or name, f"127.0.0.1:{port}"))
        return proc

    # -- what to watch (the cluster calls these before ``start``)
    def scrape(self, job: str, instance: str, url: str, path: str = "/metrics") -> None:
        """A target that serves its own metrics (a role, Patroni, etcd)."""
        self.targets.append(Target(job, instance, url.removeprefix("http://"), path))

    def postgres(self, instance: str, port: int) -> None:
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable"
        self._add(
            f"postgres-exporter-{instance}",
            "exporter",
            lambda p: [
                BINARIES["postgres-exporter"],
                f"--web.listen-address=127.0.0.1:{p}",
                "--disable-settings-metrics",
            ],
            job="postgres",
            instance=instance,
            env={"DATA_SOURCE_NAME": dsn, "PATH": "/usr/bin:/bin"},
        )

    def redis(self, instance: str, port: int) -> None:
        self._add(
            "redis-exporter",
            "exporter",
            lambda p: [
                BINARIES["redis-exporter"],
                f"-redis.addr=redis://127.0.0.1:{port}",
                f"-web.listen-address=127.0.0.1:{p}",
            ],
            job="redis",
            instance=instance,
        )

    def edge(self, instance: str, status_url: str, access_log: Path) -> None:
        """The nginx exporter on the edge's ``stub_status``, mtail on its access log."""
        self._add(
            "nginx-exporter",
            "exporter",
            lambda p: [
                BINARIES["nginx-exporter"],
                f"-nginx.scrape-uri={status_url}",
                f"-web.listen-address=127.0.0.1:{p}",
                "-nginx.retries=60",
                "-nginx.retry-interval=1s",
            ],
            job="edge",
            instance=instance,
        )
        self._add(
            "mtail",
            "exporter",
            lambda p: [
                BINARIES["mtail"],
                f"-progs={MTAIL_DIR}",
                f"-logs={access_log}",
                "-address=127.0.0.1",
                f"-port={p}",
                "-logtostderr",
            ],
            job="edge_log",
            instance=instance,
        )

    def node(self) -> None:
        """Disks only: free space and I/O of every real filesystem (the data dir's too)."""
        self._add(
            "node-exporter",
            "exporter",
            lambda p: [
                BINARIES["node-exporter"],
                "--collector.disable-defaults",
                "--collector.filesystem",
                "--collector.diskstats",
                f"--collector.filesystem.fs-types-exclude={_PSEUDO_FS}",
                f"--web.listen-address=127.0.0.1:{p}",
            ],
            job="node",
            instance="node",
        )

    # -- run
    def start(self) -> None:
        """Write the configuration and spawn every process (without waiting)."""
        spec = self.spec
        render_rules(RULES_DIR, self.root / "rules", spec.alert_for)
        self._write_role_targets([t for t in self.targets if t.job in ROLE_JOBS])
        dump(
            prometheus_config(
                self.targets,
                interval_s=spec.interval_s,
                alertmanager=f"127.0.0.1:{self.alertmanager.port}",
                rules_glob=str(self.root / "rules" / "*.yml"),
                target_files={job: str(self._targets_file(job)) for job in ROLE_JOBS},
            ),
            self.root / "prometheus.yml",
        )
        dump(
            alertmanager_config(interval_s=spec.interval_s, webhook=spec.alert_webhook),
            self.root / "alertmanager.yml",
        )
        for proc in self.procs:
            proc.start()

    def follow_roles(self, roles: Sequence[RoleProcess]) -> None:
        """Scrape exactly these api, origin and worker processes from now on (the cluster
        calls it whenever it rewrites cluster.json: a rolling upgrade's new processes)."""
        targets = []
        for r in roles:
            if r.url is not None:
                targets.append(Target(r.role, r.name, r.url.removeprefix("http://")))
            elif r.metrics_port is not None:
                targets.append(Target(r.role, r.name, f"127.0.0.1:{r.metrics_port}"))
        self._write_role_targets(targets)

    def _targets_file(self, job: str) -> Path:
        return self.root / "targets" / f"{job}.json"

    def _write_role_targets(self, targets: Sequence[Target]) -> None:
        for job in ROLE_JOBS:
            path = self._targets_file(job)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")  # Prometheus must never read half a file
            tmp.write_text(json.dumps(file_targets([t for t in targets if t.job == job])))
            tmp.replace(path)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until Prometheus and Alertmanager answer ``/-/ready``."""
        for proc in (self.prometheus, self.alertmanager):
            assert proc.proc is not None
            wait_until(
                partial(_ready, proc.url),
                timeout=timeout,
                what=proc.name,
                failed=exited(proc.proc, proc.log_path),
                interval=0.2,
            )

    def processes(self) -> list[dict[str, Any]]:
        """cluster.json entries of the processes that run."""
        out = []
        for proc in self.procs:
            if proc.pid is not None:
                entry = {"name": proc.name, "role": proc.role, "pid": proc.pid, "url": proc.url}
                out.append(entry | {"log": str(proc.log_path)})
        return out

    def manifest(self) -> dict[str, str]:
        """cluster.json keys."""
        return {"prometheus_url": self.prometheus.url, "alertmanager_url": self.alertmanager.url}

    def stop(self, timeout: float = 10) -> None:
        stop_all([p.proc for p in self.procs if p.proc is not None], timeout=timeout)


def watch(cluster: LocalCluster, spec: MonitoringSpec, status_port: int) -> MonitoringStack:
    """Start a stack over every role and engine of ``cluster`` (roles and edge started; the
    edge serves ``stub_status`` on ``status_port``)."""
    assert cluster.pg is not None
    assert cluster.redis is not None
    assert cluster.edge is not None
    stack = MonitoringStack(cluster.data_dir / "monitoring", cluster.logs_dir, spec)
    for r in cluster.roles:
        if r.url is not None:
            stack.scrape(r.role, r.name, r.url)
        elif r.metrics_port is not None:
            stack.scrape(r.role, r.name, f"127.0.0.1:{r.metrics_port}")
    for node in cluster.pg.nodes:
        stack.scrape("patroni", node.name, node.api_url)
        stack.postgres(node.name, node.port)
    for member in cluster.pg.etcd.members:
        stack.scrape("etcd", member.name, member.client_url)
    stack.redis("redis", cluster.redis.port)
    stack.edge("edge", f"http://127.0.0.1:{status_port}/stub_status", cluster.edge.access_log_path)
    stack.node()
    stack.start()
    return stack
