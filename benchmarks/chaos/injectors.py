"""The campaign's fault injectors: one per ``FaultKind`` of the schedule, each with an
``inject`` at the fault's start and a ``heal`` at its end that says what happened.

* ``sigkill``: SIGKILL a process (see ``targets`` for what a signal reaches); at the end wait
  until it is back with a new pid (the cluster's supervisor restarts it; Patroni a PostgreSQL
  server, or fails over to the standby and brings the killed one back as a replica);
* ``sigstop``: SIGSTOP it (a frozen, "gray" process: its sockets stay open, nothing answers),
  SIGCONT at the end;
* ``net-latency`` / ``net-bandwidth`` / ``net-reset`` / ``net-blackhole``: the link's fault
  proxy (``proxies``) changes mode, back to ``pass`` at the end;
* ``s3-errors``: the object store's link answers ``503`` to every request (``http-error``);
* ``disk-full``: a worker's scratch tmpfs is filled with a ballast file, removed at the end.

Targets are read from cluster.json at fault time (``targets.resolve``).
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.chaos.proxies import ProxyHub
from benchmarks.chaos.schedule import Fault, FaultKind
from benchmarks.chaos.scratch import Scratch
from benchmarks.chaos.targets import (
    Hit,
    process_targets,
    read_manifest,
    resolve,
    send,
)
from reelstream.devcluster.process import alive

BACK_TIMEOUT_S = 90.0
"""How long a killed process may take to come back before the heal reports a failure."""
RUNNING_TIMEOUT_S = 20.0
"""How long a signal fault waits for its target to run: between a restart and the manifest's
next write, or while Patroni elects a new primary, a target has no live process for a moment."""
LATENCY_S = (0.05, 0.5)
BANDWIDTH_BPS = (20_000, 200_000)


class FaultError(RuntimeError):
    """A fault could not be injected or healed; the message says what went wrong."""


@dataclass
class Ctx:
    """What the injectors act on."""

    manifest_path: Path
    hub: ProxyHub
    scratch: dict[str, Scratch]
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class Active:
    """A fault in progress: what ``inject`` did, so that ``heal`` can undo it."""

    fault: Fault
    hit: Hit | None = None
    detail: str = ""


def kinds(manifest_path: Path, hub: ProxyHub, scratch: dict[str, Scratch]) -> list[FaultKind]:
    """Every fault kind this cluster supports, with its targets (order: most telling first,
    so a schedule's ``min_kinds`` covers signals, network, disk and object store)."""
    procs = process_targets(read_manifest(manifest_path))
    links = hub.links()
    out = [
        FaultKind("sigkill", tuple(procs), weight=3),
        FaultKind("sigstop", tuple(procs), weight=2),
        FaultKind("net-latency", tuple(links)),
        FaultKind("net-reset", tuple(links)),
        FaultKind("net-blackhole", tuple(links)),
        FaultKind("net-bandwidth", tuple(links)),
    ]
    if "swift-proxy" in links:
        out.append(FaultKind("s3-errors", ("swift-proxy",)))
    if scratch:
        out.append(FaultKind("disk-full", tuple(sorted(scratch))))
    return [k for k in out if k.targets]


def _hit(ctx: Ctx, target: str) -> Hit:
    deadline = time.monotonic() + RUNNING_TIMEOUT_S
    while True:
        hit = resolve(read_manifest(ctx.manifest_path), target)
        if hit is not None and alive([hit.pid]):
            return hit
        if time.monotonic() >= deadline:
            raise FaultError(f"{target} was not running within {RUNNING_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def inject(ctx: Ctx, fault: Fault) -> Active:
    active = Active(fault)
    kind, target = fault.kind, fault.target
    if kind in ("sigkill", "sigstop"):
        hit = _hit(ctx, target)
        sig = signal.SIGKILL if kind == "sigkill" else signal.SIGSTOP
        reached = send(hit, sig)
        active.hit = hit
        active.detail = f"{sig.name} pid {hit.pid} ({len(reached)} processes)"
    elif kind == "net-latency":
        delay = round(ctx.rng.uniform(*LATENCY_S), 3)
        ctx.hub.set(target, "latency", delay_s=delay)
        active.detail = f"+{delay * 1000:.0f} ms per chunk"
    elif kind == "net-bandwidth":
        rate = round(ctx.rng.uniform(*BANDWIDTH_BPS))
        ctx.hub.set(target, "bandwidth", rate_bps=rate)
        active.detail = f"{rate / 1000:.0f} kB/s each way"
    elif kind == "net-reset":
        ctx.hub.set(target, "reset")
        active.detail = "connections reset"
    elif kind == "net-blackhole":
        ctx.hub.set(target, "blackhole")
        active.detail = "link silent"
    elif kind == "s3-errors":
        ctx.hub.set(target, "http-error")
        active.detail = "503 to every request"
    elif kind == "disk-full":
        taken = ctx.scratch[target].fill()
        active.detail = (
            f"ballast {taken / 2**20:.0f} MiB, {ctx.scratch[target].free_bytes()} B free"
        )
    else:
        raise FaultError(f"unknown fault kind {kind!r}")
    return active


def _wait_back(ctx: Ctx, active: Active) -> str:
    """After a SIGKILL: until the target runs again under a new pid."""
    assert active.hit is not None
    target, old = active.fault.target, active.hit.pid
    started = time.monotonic()
    deadline = started + BACK_TIMEOUT_S
    while time.monotonic() < deadline:
        hit = resolve(read_manifest(ctx.manifest_path), target)
        if hit is not None and hit.pid != old and alive([hit.pid]):
            return f"back as pid {hit.pid} ({time.monotonic() - started:.1f} s after the heal)"
        time.sleep(0.2)
    raise FaultError(f"{target} was not back within {BACK_TIMEOUT_S:.0f} s")


def heal(ctx: Ctx, active: Active) -> str:
    """Undo ``active``'s fault; a line saying what happened."""
    kind, target = active.fault.kind, active.fault.target
    if kind == "sigkill":
        return _wait_back(ctx, active)
    if kind == "sigstop":
        assert active.hit is not None
        send(active.hit, signal.SIGCONT)
        return "SIGCONT"
    if kind.startswith("net-") or kind == "s3-errors":
        ctx.hub.set(target, "pass")
        return "link back to pass"
    if kind == "disk-full":
        removed = ctx.scratch[target].empty()
        return "ballast removed" if removed else "no ballast to remove"
    raise FaultError(f"unknown fault kind {kind!r}")
