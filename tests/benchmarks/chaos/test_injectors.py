"""The campaign's injectors on real processes and a real tmpfs (no cluster): targets are read
from the manifest at fault time, a signal fault reaches the whole process group (or a
PostgreSQL server's processes, found by their working directory), a freeze is thawed, a
scratch disk fills up and is emptied, a link fault goes through the proxy hub and heals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks.chaos.proxies import ProxyHub
from benchmarks.chaos.schedule import Fault
from benchmarks.chaos.scratch import Scratch
from benchmarks.chaos.targets import process_targets, resolve, stopped

from benchmarks.chaos import injectors
from reelstream.devcluster.process import alive, spawn
from tests.support import require

pytestmark = pytest.mark.timeout(60)

FORKER = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def manifest(path: Path, processes: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"processes": processes, "edge_url": "http://127.0.0.1:1"}))
    return path


def children_of(pid: int) -> list[int]:
    for _ in range(100):
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        if out.stdout.split():
            return [int(x) for x in out.stdout.split()]
        time.sleep(0.05)
    raise AssertionError(f"{pid} started no child")


def test_targets_name_every_signalled_process() -> None:
    m = {
        "processes": [
            {"name": "cluster", "role": "cluster", "pid": 1},
            {"name": "api-1", "role": "api", "pid": 2},
            {"name": "worker-1", "role": "worker", "pid": 3},
            {"name": "edge", "role": "edge", "pid": 4},
            {"name": "redis", "role": "redis", "pid": 5},
            {"name": "proxy", "role": "swift-proxy", "pid": 6},
            {"name": "object2", "role": "swift-object", "pid": 7},
            {"name": "account", "role": "swift-account", "pid": 8},
            {"name": "memcached", "role": "memcached", "pid": 9},
            {"name": "patroni-1", "role": "patroni", "pid": 10},
            {"name": "etcd-1", "role": "etcd", "pid": 11},
            {"name": "postgres-primary", "role": "postgres-primary", "pid": 12},
            {"name": "postgres-replica", "role": "postgres-replica", "pid": 13},
        ]
    }
    assert process_targets(m) == [
        "api-1", "worker-1", "edge", "redis", "swift-proxy", "swift-object2", "memcached",
        "patroni-1", "etcd-1", "postgres-primary", "postgres-replica",
    ]  # fmt: skip


def test_sigkill_reaches_the_whole_group_and_waits_for_the_new_pid(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    role = spawn([sys.executable, "-c", FORKER], tmp_path / "api.log")
    procs.append(role)
    child = children_of(role.pid)[0]
    path = manifest(tmp_path / "cluster.json", [{"name": "api-1", "role": "api", "pid": role.pid}])
    ctx = injectors.Ctx(path, ProxyHub(), {})
    try:
        active = injectors.inject(ctx, Fault("sigkill", "api-1", 0, 1))
        role.wait(5)
        for _ in range(100):
            if not alive([child]):
                break
            time.sleep(0.05)
        assert not alive([child])  # the group went with it
        # the supervisor's part: a new process, a new pid in the manifest
        again = spawn([sys.executable, "-c", FORKER], tmp_path / "api.log")
        procs.append(again)
        manifest(path, [{"name": "api-1", "role": "api", "pid": again.pid}])
        assert f"back as pid {again.pid}" in injectors.heal(ctx, active)
    finally:
        ctx.hub.close()


def test_sigstop_freezes_then_sigcont_thaws(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    role = spawn([sys.executable, "-c", FORKER], tmp_path / "w.log")
    procs.append(role)
    group = [role.pid, *children_of(role.pid)]
    path = manifest(tmp_path / "c.json", [{"name": "worker-1", "role": "worker", "pid": role.pid}])
    ctx = injectors.Ctx(path, ProxyHub(), {})
    try:
        active = injectors.inject(ctx, Fault("sigstop", "worker-1", 0, 1))
        for _ in range(100):
            if sorted(stopped(group)) == sorted(group):
                break
            time.sleep(0.02)
        assert sorted(stopped(group)) == sorted(group)
        assert injectors.heal(ctx, active) == "SIGCONT"
        for _ in range(100):
            if not stopped(group):
                break
            time.sleep(0.02)
        assert stopped(group) == []
    finally:
        ctx.hub.close()


def test_a_signal_fault_waits_for_a_target_between_lives(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between a restart and the manifest's next write (or while Patroni elects a primary) the
    target has no live process: the fault waits for one, and says so when none comes."""
    import threading

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = manifest(tmp_path / "c.json", [{"name": "api-1", "role": "api", "pid": dead.pid}])
    ctx = injectors.Ctx(path, ProxyHub(), {})
    try:
        monkeypatch.setattr(injectors, "RUNNING_TIMEOUT_S", 0.5)
        with pytest.raises(injectors.FaultError, match="api-1 was not running within"):
            injectors.inject(ctx, Fault("sigstop", "api-1", 0, 1))

        monkeypatch.setattr(injectors, "RUNNING_TIMEOUT_S", 10.0)
        role = spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "a.log")
        procs.append(role)
        entry = [{"name": "api-1", "role": "api", "pid": role.pid}]
        later = threading.Timer(  # written aside then renamed, as the cluster writes it
            0.5, lambda: manifest(tmp_path / "next.json", entry).replace(path)
        )
        later.start()
        active = injectors.inject(ctx, Fault("sigstop", "api-1", 0, 1))
        later.join()
        assert active.hit is not None and active.hit.pid == role.pid
        assert injectors.heal(ctx, active) == "SIGCONT"
    finally:
        ctx.hub.close()


def test_a_postgres_target_includes_processes_in_its_data_dir(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    data = tmp_path / "primary"
    data.mkdir()
    postmaster = spawn(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "p.log", cwd=data
    )
    orphan = spawn(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "o.log", cwd=data
    )
    procs += [postmaster, orphan]
    (data / "postmaster.pid").write_text(f"{postmaster.pid}\n{data}\n")
    m = {
        "processes": [
            {"name": "postgres-primary", "role": "postgres-primary", "pid": 1, "data": str(data)}
        ]
    }
    hit = resolve(m, "postgres-primary")
    assert hit is not None
    assert hit.pid == postmaster.pid  # from postmaster.pid, not the manifest's stale pid
    assert orphan.pid in hit.pids


def test_disk_full_fills_the_scratch_tmpfs_and_heals(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "root (mount -t tmpfs)")
    scratch = Scratch(tmp_path / "work", size_mb=8)
    scratch.mount()
    ctx = injectors.Ctx(tmp_path / "none.json", ProxyHub(), {"worker-1": scratch})
    try:
        active = injectors.inject(ctx, Fault("disk-full", "worker-1", 0, 1))
        assert scratch.free_bytes() < 64 * 1024
        with pytest.raises(OSError, match="No space"):
            (scratch.path / "transcode.ts").write_bytes(b"x" * (1 << 20))
        (scratch.path / "transcode.ts").unlink(missing_ok=True)
        assert injectors.heal(ctx, active) == "ballast removed"
        assert scratch.free_bytes() > 7 * 2**20
    finally:
        ctx.hub.close()
        scratch.unmount()
    assert not scratch.path.is_mount()


def test_link_faults_go_through_the_hub_and_heal(tmp_path: Path) -> None:
    hub = ProxyHub()
    ctx = injectors.Ctx(tmp_path / "none.json", hub, {})
    try:
        hub.interpose("swift-proxy", 9)
        active = injectors.inject(ctx, Fault("s3-errors", "swift-proxy", 0, 1))
        assert hub.modes() == {"swift-proxy": "http-error"}
        assert injectors.heal(ctx, active) == "link back to pass"
        active = injectors.inject(ctx, Fault("net-blackhole", "swift-proxy", 0, 1))
        assert hub.modes() == {"swift-proxy": "blackhole"}
        injectors.heal(ctx, active)
        assert hub.modes() == {"swift-proxy": "pass"}
    finally:
        hub.close()
