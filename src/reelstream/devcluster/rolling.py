"""Rolling upgrade of a running ``LocalCluster`` to another release, one process at a time.

The steps, in the order ``benchmarks/upgrade.py`` runs them (docs/deploy.md, "Rolling
upgrades"):

* ``migrate("expand")``: only the migrations the running release survives;
* ``roll_http("api")``, ``roll_http("origin")``: for each instance, start the new release on a
  new port and wait for its ``/readyz``; rewrite the edge configuration with the new instance
  in the upstream and the old one out, and reload nginx (``NginxEdge.reload``: the old nginx
  workers finish what they have in flight and exit, and the reload returns once they are
  gone); only then take the old instance out of ``LocalCluster.roles`` and SIGTERM it
  (uvicorn finishes its requests within ``REELSTREAM_SHUTDOWN_GRACE_S``). Nothing can be on
  its way to it any more, so a tus PATCH, which nginx never retries on another upstream (it
  is not idempotent), is never cut by the upgrade. The first instance of each role is the
  canary: it joins the upstream *beside* the old instances and serves for ``canary_s`` (up to
  three times that until it answered at least one request through the edge); if the edge saw
  it answer a 5xx (or its ``/readyz`` fails) it is taken out again and the upgrade stops
  (``CanaryFailed``) with every old instance still serving;
* ``roll_workers()``: start a new worker, then SIGTERM an old one, which stops claiming,
  finishes its running jobs within the grace period or hands them back to the queue;
* ``reload_edge()``: the edge configuration rendered by the new release, reloaded the same
  way. The nginx binary does not change, so no binary upgrade (USR2) is needed;
* ``migrate("contract")``: once no process of the previous release runs.

``cluster.json`` is rewritten after every change of pids and ports.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from reelstream.devcluster.cluster import ROLE_READY_TIMEOUT_S, LocalCluster
from reelstream.devcluster.process import StartError, free_port, tail
from reelstream.devcluster.roles import RoleName, RoleProcess
from reelstream.edge.config import Upstream, parse_upstream_url

_LINE = re.compile(
    r'" (?P<status>\d{3}) .* upstream="(?P<addr>[^"]*)" ustatus="(?P<ustatus>[^"]*)"'
)


class CanaryFailed(RuntimeError):
    """The canary answered errors: it was taken out again, the old instances still serve."""


class RollingUpgrade:
    """Replace the roles of ``cluster`` by processes of the release on ``pythonpath``."""

    def __init__(
        self,
        cluster: LocalCluster,
        pythonpath: str | None,
        *,
        version: str = "",
        canary_s: float = 10.0,
        drain_timeout_s: float = 120.0,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.cluster = cluster
        self.pythonpath = pythonpath
        self.version = version
        self.canary_s = canary_s
        self.drain_timeout_s = drain_timeout_s
        self.echo = echo
        self.canaries: list[dict[str, object]] = []
        """Each canary: its name, the answers it gave through the edge, its 5xx among them."""
        self.steps: list[dict[str, object]] = []
        """What was done, with when it started and ended (seconds on the monotonic clock)."""

    # -- environment
    def env(self) -> dict[str, str]:
        env = self.cluster._role_env(self.cluster._signing_keys())
        if self.pythonpath is not None:
            env["PYTHONPATH"] = self.pythonpath
        return env

    def _step(self, what: str, t0: float, **extra: object) -> None:
        self.steps.append({"step": what, "start": t0, "end": time.monotonic(), **extra})
        self.echo(f"upgrade: {what} ({time.monotonic() - t0:.1f} s)")

    def migrate(self, phase: str) -> None:
        """``reelstream migrate --phase PHASE`` run by the new release."""
        t0 = time.monotonic()
        log_path = self.cluster.logs_dir / "migrate.log"
        argv = [sys.executable, "-m", "reelstream", "migrate", "--phase", phase]
        argv += ["--data-dir", str(self.cluster.data_dir / "roles" / "migrate")]
        with log_path.open("ab") as log:
            out = subprocess.run(
                argv, env=self.env(), stdout=log, stderr=subprocess.STDOUT, timeout=600, check=False
            )
        if out.returncode != 0:
            raise StartError(f"migrate --phase {phase} failed:\n{tail(log_path)}")
        self._step(f"migrate {phase}", t0)

    # -- roles
    def _new_role(self, role: RoleName, env: Mapping[str, str]) -> RoleProcess:
        taken = {r.name for r in self.cluster.roles}
        n = 1 + sum(1 for name in taken if name.startswith(f"{role}-"))
        while f"{role}-{n}" in taken or (self.cluster.logs_dir / f"{role}-{n}.log").exists():
            n += 1
        name = f"{role}-{n}"
        return RoleProcess(
            name=name,
            role=role,
            data_dir=self.cluster.data_dir / "roles" / name,
            log_path=self.cluster.logs_dir / f"{name}.log",
            env=env,
            port=None if role == "worker" else free_port(),
            http_workers=self.cluster.spec.http_workers,
            # a monitored cluster scrapes its workers: the new one too (cluster.json's rewrite
            # hands it to Prometheus, see MonitoringStack.follow_roles)
            metrics_port=(
                free_port()
                if role == "worker" and self.cluster.spec.monitoring is not None
                else None
            ),
        )

    def _start(self, role: RoleName, env: Mapping[str, str]) -> RoleProcess:
        new = self._new_role(role, env)
        new.start()
        try:
            new.wait_ready(ROLE_READY_TIMEOUT_S)
            if new.url is not None:
                self._check_version(new)
        except Exception:
            new.stop(10)
            raise
        return new

    def _check_version(self, new: RoleProcess) -> None:
        """The new process says which release it runs (``reelstream X (role) on URL``)."""
        if self.version and f"reelstream {self.version} " not in tail(new.log_path, 20000):
            raise StartError(f"{new.name} does not run {self.version}:\n{tail(new.log_path)}")

    def _retire(self, old: RoleProcess) -> None:
        """Out of ``cluster.roles`` first (a supervisor must not restart it), then SIGTERM."""
        self.cluster.roles.remove(old)
        self.cluster._write_manifest()
        grace = float(self.env().get("REELSTREAM_SHUTDOWN_GRACE_S", "10"))
        old.stop(grace + 10)

    def _edge_upstreams(self, role: RoleName, urls: list[str]) -> None:
        edge = self.cluster.edge
        assert edge is not None
        assert edge.config is not None
        ups: tuple[Upstream, ...] = tuple(parse_upstream_url(u, role) for u in urls)
        if role == "api":
            edge.rewrite(dataclasses.replace(edge.config, apis=ups))
        else:
            edge.rewrite(dataclasses.replace(edge.config, origins=ups))
        edge.reload(self.drain_timeout_s)

    def _urls(self, role: RoleName) -> list[str]:
        return [r.url for r in self.cluster.roles if r.role == role and r.url is not None]

    def roll_http(self, role: RoleName) -> None:
        """Replace every api (or origin) instance, the first one as the canary."""
        olds = [r for r in self.cluster.roles if r.role == role]
        env = self.env()
        for i, old in enumerate(olds):
            t0 = time.monotonic()
            new = self._start(role, env)
            self.cluster.roles.append(new)
            if i == 0:
                self._canary(role, new)
            self._edge_upstreams(role, [u for u in self._urls(role) if u != old.url])
            self._retire(old)
            self._step(f"{old.name} -> {new.name}{' (canary)' if i == 0 else ''}", t0)

    def _canary(self, role: RoleName, new: RoleProcess) -> None:
        """Serve beside the old instances for ``canary_s``; out again on any 5xx."""
        assert new.url is not None
        assert new.port is not None
        edge = self.cluster.edge
        assert edge is not None
        log_offset = edge.access_log_path.stat().st_size if edge.access_log_path.exists() else 0
        self._edge_upstreams(role, self._urls(role))
        t0 = time.monotonic()
        healthy, served, errors = True, 0, 0
        # canary_s at least; up to 3 x canary_s until it answered a request through the edge
        # (the edge's cache shields origins: an origin canary may see little traffic)
        while healthy and time.monotonic() - t0 < 3 * self.canary_s:
            time.sleep(0.5)
            try:
                healthy = httpx.get(f"{new.url}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                healthy = False
            served, errors = canary_answers(edge.access_log_path, log_offset, f":{new.port}")
            if errors or (served and time.monotonic() - t0 >= self.canary_s):
                break
        self.echo(f"upgrade: canary {new.name} answered {served} request(s), {errors} 5xx")
        self.canaries.append({"name": new.name, "answers": served, "errors": errors})
        if healthy and errors == 0:
            return
        self.cluster.roles.remove(new)
        self._edge_upstreams(role, self._urls(role))
        new.stop(30)
        self.cluster._write_manifest()
        raise CanaryFailed(f"canary {new.name}: {errors} 5xx of {served}, ready={healthy}")

    def roll_workers(self, before_stop: Callable[[RoleProcess], object] | None = None) -> None:
        """Start a new worker, then SIGTERM an old one (it hands running jobs back).
        ``before_stop(old)`` runs just before (e.g. to wait until the old one runs a job)."""
        env = self.env()
        for old in [r for r in self.cluster.roles if r.role == "worker"]:
            t0 = time.monotonic()
            new = self._start("worker", env)
            self.cluster.roles.append(new)
            if before_stop is not None:
                before_stop(old)
            self._retire(old)
            self._step(f"{old.name} -> {new.name}", t0)

    def reload_edge(self) -> None:
        """Re-render the edge configuration with this (the new) code and reload nginx."""
        t0 = time.monotonic()
        edge = self.cluster.edge
        assert edge is not None
        assert edge.config is not None
        edge.rewrite(edge.config)
        edge.reload(self.drain_timeout_s)
        self.cluster._write_manifest()
        self._step("edge reload", t0)


def canary_answers(access_log: Path, offset: int, port_suffix: str) -> tuple[int, int]:
    """``(answers, 5xx answers)`` of the upstream ending in ``port_suffix`` in the edge's
    access log after ``offset`` (an answer the edge retried elsewhere counts as well; a
    refused connection is logged as 502). No answer at all (``-``: the client dropped the
    request, as the harness's interrupted uploads do) is not the canary's fault."""
    served = errors = 0
    with access_log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    for line in text.splitlines():
        m = _LINE.search(line)
        if m is None:
            continue
        addrs = [a.strip() for a in re.split(r"[,:]\s", m["addr"]) if a.strip()]
        statuses = [s.strip() for s in re.split(r"[,:]\s", m["ustatus"]) if s.strip()]
        for addr, status in zip(addrs, statuses, strict=False):
            if addr.endswith(port_suffix):
                served += 1
                errors += status.startswith("5")  # "-": no answer, e.g. the client left
    return served, errors
