"""The cluster's supervisor (``Restart=always``) on real, trivial processes: an exited unit is
started again (with a backoff that grows while it keeps dying young), what was left in its
process group is killed first, and a role removed from the cluster on purpose stays down."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from reelstream.devcluster.cluster import LocalCluster
from reelstream.devcluster.process import alive, spawn
from reelstream.devcluster.supervisor import MAX_BACKOFF_S, MIN_BACKOFF_S, Supervisor

pytestmark = pytest.mark.timeout(60)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@dataclass
class FakeRole:
    name: str
    log_path: Path
    argv: list[str] = field(default_factory=lambda: list(SLEEPER))
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        self.proc = spawn(self.argv, self.log_path)


@dataclass
class FakeCluster:
    roles: list[FakeRole]
    edge: Any = None
    redis: Any = None
    swift: Any = None
    monitoring: Any = None


@dataclass
class FakeMonitoring:
    procs: list[FakeRole]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path, *names: str) -> tuple[FakeCluster, Supervisor, Clock]:
    roles = [FakeRole(n, tmp_path / f"{n}.log") for n in names]
    for role in roles:
        role.start()
    cluster = FakeCluster(roles)
    clock = Clock()
    return cluster, Supervisor(cast(LocalCluster, cluster), clock), clock


def kill(role: FakeRole) -> int:
    assert role.proc is not None
    role.proc.kill()
    role.proc.wait()
    return role.proc.pid


def stop_all(cluster: FakeCluster) -> None:
    for role in cluster.roles:
        if role.proc is not None and role.proc.poll() is None:
            role.proc.kill()
            role.proc.wait()


def test_an_exited_role_is_restarted_after_a_backoff(tmp_path: Path) -> None:
    cluster, supervisor, clock = make(tmp_path, "api-1", "worker-1")
    api = cluster.roles[0]
    try:
        assert supervisor.tick() == []
        old = kill(api)
        messages = supervisor.tick()
        assert any("api-1" in m and "exited" in m for m in messages)
        assert api.proc is not None and api.proc.pid == old  # not yet: backoff
        clock.now += MIN_BACKOFF_S + 0.01
        assert "api-1 restarted" in supervisor.tick()
        assert api.proc.pid != old and api.proc.poll() is None
        assert supervisor.restarts == {"api-1": 1}
        assert cluster.roles[1].starts == 1  # the live worker was left alone
    finally:
        stop_all(cluster)


def test_the_backoff_grows_while_a_role_dies_young(tmp_path: Path) -> None:
    cluster, supervisor, clock = make(tmp_path, "origin-1")
    origin = cluster.roles[0]
    waits = []
    try:
        for _ in range(6):
            kill(origin)
            supervisor.tick()
            waited = 0.0
            while origin.proc is not None and origin.proc.poll() is not None:
                clock.now += 0.25
                waited += 0.25
                supervisor.tick()
                assert waited <= MAX_BACKOFF_S + 1
            waits.append(waited)
        assert waits == sorted(waits) and waits[-1] > waits[0]
        assert max(waits) <= MAX_BACKOFF_S
    finally:
        stop_all(cluster)


def test_leftovers_in_the_dead_process_group_are_killed(tmp_path: Path) -> None:
    # the role forks a child in its group (as nginx's master does its workers), then is killed
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    cluster, supervisor, clock = make(tmp_path)
    role = FakeRole("edge", tmp_path / "edge.log", argv=[sys.executable, "-c", script])
    cluster.roles.append(role)
    role.start()
    try:
        log = role.log_path
        for _ in range(100):
            if log.read_text().strip():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        child = int(log.read_text().split()[0])
        assert alive([child])
        kill(role)
        assert alive([child])  # orphaned, still holding whatever it held
        supervisor.tick()
        clock.now += MIN_BACKOFF_S + 0.01
        supervisor.tick()
        for _ in range(100):
            if not alive([child]):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert not alive([child])
    finally:
        stop_all(cluster)


def test_a_role_removed_from_the_cluster_is_not_restarted(tmp_path: Path) -> None:
    cluster, supervisor, clock = make(tmp_path, "worker-1", "worker-2")
    gone = cluster.roles.pop()  # a rolling upgrade takes it out on purpose
    try:
        kill(gone)
        supervisor.tick()
        clock.now += MAX_BACKOFF_S + 1
        assert supervisor.tick() == []
        assert gone.starts == 1 and gone.proc is not None and gone.proc.poll() is not None
    finally:
        stop_all(cluster)


def test_a_dead_process_of_the_monitoring_stack_is_restarted(tmp_path: Path) -> None:
    cluster, supervisor, clock = make(tmp_path, "api-1")
    exporter = FakeRole("redis-exporter", tmp_path / "redis-exporter.log")
    exporter.start()
    cluster.monitoring = FakeMonitoring([exporter])
    try:
        supervisor.tick()
        old = kill(exporter)
        supervisor.tick()
        clock.now += MIN_BACKOFF_S + 0.01
        assert "redis-exporter restarted" in supervisor.tick()
        assert exporter.proc is not None and exporter.proc.pid != old
    finally:
        stop_all(cluster)
        kill(exporter)
