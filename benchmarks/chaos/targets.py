"""Which processes a fault hits, read from cluster.json at fault time (pids change after every
restart, and the PostgreSQL primary moves after a failover).

A target is a process name of the manifest (``api-1``, ``worker-2``, ``edge``, ``redis``,
``memcached``, ``patroni-pg-1``, ``etcd-1``), a Swift server as ``swift-<name>`` (``swift-proxy``,
``swift-object1``), or a PostgreSQL role (``postgres-primary``, ``postgres-replica``) resolved to
whichever server has that role now. What a signal reaches:

* PostgreSQL: the postmaster (its pid read from ``postmaster.pid`` in the data folder when the
  manifest names it) and all its backends;
* Patroni and etcd: the one process (Patroni's PostgreSQL is a fault of its own);
* anything else leads its own process group (the cluster spawns each in a new session): the
  whole group, so an api's server processes, a worker's ffmpeg and nginx's workers go with it,
  as on a host that died.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstream.devcluster.process import alive, descendants

SWIFT_NAMES = ("proxy", "object1", "object2", "object3")
POSTGRES_ROLES = ("postgres-primary", "postgres-replica")
SINGLE_PROCESS_ROLES = ("patroni", "etcd")
SIGNALLED_ROLES = ("api", "origin", "worker", "edge", "redis")


def read_manifest(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def process_targets(manifest: dict[str, Any]) -> list[str]:
    """Every process a signal fault may hit, by target name."""
    targets = []
    for p in manifest.get("processes", []):
        name, role = p["name"], p["role"]
        if role == "cluster" or role.startswith("postgres"):
            continue
        if name in SWIFT_NAMES:
            targets.append(f"swift-{name}")
        elif name == "memcached" or role in (*SIGNALLED_ROLES, *SINGLE_PROCESS_ROLES):
            targets.append(name)
    roles = {p["role"] for p in manifest.get("processes", [])}
    targets += [r for r in POSTGRES_ROLES if r in roles]
    return targets


def _entry(manifest: dict[str, Any], target: str) -> dict[str, Any] | None:
    processes: list[dict[str, Any]] = manifest.get("processes", [])
    if target in POSTGRES_ROLES:
        return next((p for p in processes if p["role"] == target), None)
    name = target.removeprefix("swift-") if target.startswith("swift-") else target
    return next((p for p in processes if p["name"] == name), None)


def in_folder(folder: Path) -> list[int]:
    """Processes whose working directory is ``folder``: a PostgreSQL server's postmaster and
    backends all run in its data folder, even backends orphaned by a killed postmaster."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(os.readlink(entry / "cwd")) == folder:
                    found.append(int(entry.name))
    return found


def _data_dir(manifest: dict[str, Any], entry: dict[str, Any]) -> Path | None:
    data = entry.get("data")
    if data is None:  # a Patroni node: find its data folder by port
        port = str(entry.get("url", "")).rsplit(":", 1)[-1].split("/")[0]
        for node in manifest.get("postgres_nodes", []):
            if str(node.get("port")) == port:
                data = node.get("data")
    return None if data is None else Path(data)


def _postmaster(data: Path | None, entry: dict[str, Any]) -> int:
    if data is not None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((data / "postmaster.pid").read_text().split()[0])
    return int(entry["pid"])


@dataclass(frozen=True)
class Hit:
    """What one signal fault reaches: the target's main pid and every pid to signal."""

    target: str
    pid: int
    pids: tuple[int, ...]
    group: bool  # signal the process group (pid leads it)


def resolve(manifest: dict[str, Any], target: str) -> Hit | None:
    """The processes ``target`` is now (None when the manifest does not list it)."""
    entry = _entry(manifest, target)
    if entry is None:
        return None
    if target in POSTGRES_ROLES:
        data = _data_dir(manifest, entry)
        pid = _postmaster(data, entry)
        pids = {pid, *descendants(pid), *(in_folder(data.resolve()) if data else [])}
        return Hit(target, pid, (pid, *sorted(pids - {pid})), group=False)
    pid = int(entry["pid"])
    if entry["role"] in SINGLE_PROCESS_ROLES:
        return Hit(target, pid, (pid,), group=False)
    try:
        leads = os.getpgid(pid) == pid
    except ProcessLookupError:
        return Hit(target, pid, (pid,), group=False)
    return Hit(target, pid, (pid, *sorted(descendants(pid))), group=leads)


def send(hit: Hit, sig: signal.Signals) -> list[int]:
    """Signal every process of ``hit``; return the pids that were alive to receive it."""
    reached = alive(hit.pids)
    if hit.group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(hit.pid, sig)
    for pid in reached:  # descendants outside the group too (a daemonised child)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return reached


def stopped(pids: list[int] | tuple[int, ...]) -> list[int]:
    """The pids among ``pids`` that are stopped (state T)."""
    out = []
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2 :].split()[0] in ("T", "t"):
                out.append(pid)
    return out
