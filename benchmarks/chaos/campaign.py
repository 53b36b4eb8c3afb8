"""The chaos campaign: the local cluster in this process with a fault proxy on every link, the
load harness's workload in a subprocess, a seeded schedule of overlapping faults while it runs,
then everything healed, the workload's end awaited, and the checks.

Steps (``run``): mount a small tmpfs on each worker's scratch, start ``LocalCluster`` with
``ProxyHub.interpose`` (a supervisor thread restarts whatever a fault killed), start
``python -m benchmarks.load --cluster cluster.json`` (uploaders with interruptions, real-time
viewers, API clients), wait until its seed videos are ready, run the schedule (a thread per
fault: inject at its start, heal at its end), heal everything that may be left (proxies back
to pass, SIGCONT, ballast removed), wait for the load to end, check the campaign's own
invariants (every fault injected and healed; every process of the manifest running, none
stopped; every link passing; the edge ready), then call the check hook (the independent
checker; ``Hooks.check``), stop the cluster, unmount the tmpfs and return the report.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from benchmarks.chaos import injectors
from benchmarks.chaos.proxies import ProxyHub
from benchmarks.chaos.schedule import Fault, ScheduleSpec, schedule, summary
from benchmarks.chaos.scratch import Scratch, can_mount, work_dir
from benchmarks.chaos.targets import read_manifest, resolve, send, stopped
from reelstream.devcluster.cluster import ClusterSpec, LocalCluster
from reelstream.devcluster.process import alive

CAMPAIGN_ENV = {
    "REELSTREAM_RATE_LIMIT_READS": "200000/minute",
    "REELSTREAM_RATE_LIMIT_WRITES": "100000/minute",
    "REELSTREAM_RATE_LIMIT_UPLOAD": "100000/hour",
    "REELSTREAM_WEBHOOK_ALLOW_PRIVATE": "true",  # the checker's webhook sink is on loopback
    # two rungs: transcodes finish on a 2-core machine while everything else runs
    "REELSTREAM_LADDER": '[{"height": 144, "video_kbps": 200}, {"height": 240, "video_kbps": 400}]',
    "REELSTREAM_FFMPEG_THREADS": "1",
}
SUPERVISE_EVERY_S = 0.5
SEED_READY_TIMEOUT_S = 600.0
SEED_VIDEOS = 2


class CheckOutcome(Protocol):
    """What the check hook returns (the checker's ``CheckReport``)."""

    @property
    def ok(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...

    def to_markdown(self) -> str: ...


@dataclass
class CampaignRun:
    """What the hooks see: the cluster's manifest and the load's report once it ended."""

    data_dir: Path
    manifest_path: Path
    manifest: dict[str, Any]
    load_report_path: Path
    load_report: dict[str, Any] | None = None
    ready_timeout_s: float = 180.0
    faults_ended_at: float = 0.0  # time.time() when the last fault was healed


@dataclass
class Hooks:
    before_load: Callable[[CampaignRun], None] | None = None
    """Called once the cluster is up, before the workload (e.g. start a webhook sink and
    register it with the admin token of the manifest)."""
    check: Callable[[CampaignRun], CheckOutcome] | None = None
    """The independent checker, called after the faults and the workload ended."""


@dataclass
class CampaignConfig:
    seed: int
    duration_s: float
    faults: int
    data_dir: Path
    apis: int = 2
    origins: int = 2
    workers: int = 2
    http_workers: int = 1
    max_overlap: int = 2
    min_hold_s: float = 1.0
    max_hold_s: float = 8.0
    min_kinds: int = 8
    scratch_mb: int = 256
    ready_timeout_s: float = 180.0
    load_args: list[str] = field(default_factory=list)
    """Extra ``benchmarks.load`` options (they override the defaults of ``load_argv``)."""


@dataclass
class FaultRecord:
    kind: str
    target: str
    planned_start_s: float
    planned_end_s: float
    start_s: float | None = None
    end_s: float | None = None
    injected: str = ""
    healed: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.injected and self.healed and not self.error)


def load_argv(cfg: CampaignConfig, manifest: Path, out: Path) -> list[str]:
    """The chaos workload: uploaders with interruptions, real-time viewers, API clients."""
    argv = [
        sys.executable, "-m", "benchmarks.load", "--cluster", str(manifest),
        "--profile", "steady", "--duration", str(cfg.duration_s), "--seed", str(cfg.seed),
        "--seed-videos", str(SEED_VIDEOS), "--seed-clip-s", "4",
        "--seed-timeout", str(SEED_READY_TIMEOUT_S),
        "--viewer-rate", "0.3", "--max-viewers", "4", "--watch-s", "20",
        "--api-rate", "4", "--api-inflight", "8", "--timeout", "15",
        "--upload-rate", "0.1", "--max-uploads", "30", "--upload-inflight", "2",
        "--interrupt-prob", "0.5", "--upload-clip-s", "3", "--chunk-size", "128K",
        "--drain", "180", "--json-out", str(out), "--format", "markdown",
    ]  # fmt: skip
    return argv + cfg.load_args


class Campaign:
    def __init__(
        self, cfg: CampaignConfig, hooks: Hooks | None = None, echo: Callable[[str], None] = print
    ) -> None:
        self.cfg = cfg
        self.hooks = hooks or Hooks()
        self.echo = echo
        self.data_dir = cfg.data_dir.resolve()
        self.hub = ProxyHub()
        self.scratch: dict[str, Scratch] = {}
        self.cluster: LocalCluster | None = None
        self.records: list[FaultRecord] = []
        self.events: list[str] = []
        self.t0 = 0.0
        self.t_faults = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def log(self, line: str) -> None:
        stamp = f"[{time.monotonic() - self.t0:7.1f}s] " if self.t0 else ""
        with self._lock:
            self.events.append(stamp + line)
        self.echo(stamp + line)

    # -- cluster
    def _mount_scratch(self) -> None:
        if not can_mount():
            self.log("not root: no scratch tmpfs, no disk-full faults")
            return
        for i in range(1, self.cfg.workers + 1):
            name = f"worker-{i}"
            s = Scratch(work_dir(self.data_dir / "cluster", name), self.cfg.scratch_mb)
            s.mount()
            self.scratch[name] = s

    def _start_cluster(self) -> LocalCluster:
        spec = ClusterSpec(
            self.data_dir / "cluster",
            apis=self.cfg.apis,
            origins=self.cfg.origins,
            workers=self.cfg.workers,
            http_workers=self.cfg.http_workers,
            edge_port=None,
            env={k: v for k, v in CAMPAIGN_ENV.items() if k not in os.environ},
            interpose=self.hub.interpose,
        )
        cluster = LocalCluster(spec, echo=self.log)
        self.cluster = cluster
        cluster.start()
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()
        return cluster

    def _supervise(self) -> None:
        assert self.cluster is not None
        while not self._stop.wait(SUPERVISE_EVERY_S):
            try:
                for message in self.cluster.supervise():
                    self.log(f"supervisor: {message}")
            except Exception as exc:  # keep supervising; say what broke
                self.log(f"supervisor error: {exc!r}")

    # -- faults
    def _run_fault(self, ctx: injectors.Ctx, rec: FaultRecord) -> None:
        fault = Fault(rec.kind, rec.target, rec.planned_start_s, rec.planned_end_s)
        rec.start_s = round(time.monotonic() - self.t_faults, 2)
        try:
            active = injectors.inject(ctx, fault)
            rec.injected = active.detail
            self.log(f"fault {rec.kind} {rec.target}: {active.detail}")
        except Exception as exc:  # recorded; the campaign goes on
            rec.error = f"inject: {exc}"
            self.log(f"fault {rec.kind} {rec.target} NOT injected: {exc}")
            return
        delay = self.t_faults + rec.planned_end_s - time.monotonic()
        self._stop.wait(max(0.0, delay))
        try:
            rec.healed = injectors.heal(ctx, active)
            self.log(f"healed {rec.kind} {rec.target}: {rec.healed}")
        except Exception as exc:  # recorded
            rec.error = f"heal: {exc}"
            self.log(f"heal of {rec.kind} {rec.target} failed: {exc}")
        rec.end_s = round(time.monotonic() - self.t_faults, 2)

    def run_schedule(self, manifest_path: Path) -> None:
        cfg = self.cfg
        ctx = injectors.Ctx(
            manifest_path,
            self.hub,
            self.scratch,
            rng=random.Random(cfg.seed),
        )
        kinds = injectors.kinds(manifest_path, self.hub, self.scratch)
        spec = ScheduleSpec(
            duration_s=cfg.duration_s,
            rate_per_s=1.5 * cfg.faults / cfg.duration_s,
            min_hold_s=cfg.min_hold_s,
            max_hold_s=cfg.max_hold_s,
            max_overlap=cfg.max_overlap,
            max_faults=cfg.faults,
            min_kinds=min(cfg.min_kinds, len(kinds)),
        )
        plan = schedule(kinds, spec, cfg.seed)
        self.log(f"schedule: {len(plan)} faults {summary(plan)}")
        self.records = [FaultRecord(f.kind, f.target, f.start_s, f.end_s) for f in plan]
        self.t_faults = time.monotonic()
        threads = []
        for rec in self.records:
            if self._stop.wait(max(0.0, self.t_faults + rec.planned_start_s - time.monotonic())):
                break
            t = threading.Thread(target=self._run_fault, args=(ctx, rec), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(injectors.BACK_TIMEOUT_S + cfg.max_hold_s + 30)

    def heal_everything(self, manifest_path: Path) -> list[str]:
        """Whatever a fault may have left: links to pass, SIGCONT to every process of the
        manifest, ballast removed, the HA manager's own ``heal`` when it has one."""
        done = []
        self.hub.heal_all()
        manifest = read_manifest(manifest_path)
        for p in manifest["processes"]:
            hit = resolve(manifest, p["name"]) if p["role"] != "cluster" else None
            if hit is not None and stopped(hit.pids):
                send(hit, signal.SIGCONT)
                done.append(f"SIGCONT {p['name']}")
        for name, s in self.scratch.items():
            if s.empty():
                done.append(f"ballast removed from {name}")
        if self.cluster is not None:
            done += self.cluster.heal()
        return done

    # -- the run
    def _wait_seeded(self, edge_url: str, load: subprocess.Popen[bytes]) -> None:
        """Until the load's seed videos are ready (its run phase starts then)."""
        deadline = time.monotonic() + SEED_READY_TIMEOUT_S
        while time.monotonic() < deadline and load.poll() is None:
            try:
                r = httpx.get(
                    f"{edge_url}/api/v1/videos",
                    params={"status": "ready", "limit": SEED_VIDEOS},
                    timeout=5,
                )
                if r.status_code == 200 and len(r.json()["items"]) >= SEED_VIDEOS:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(1)
        raise RuntimeError("the load harness's seed videos were never ready (see load.log)")

    def _start_load(self, manifest_path: Path, out: Path) -> subprocess.Popen[bytes]:
        root = Path(__file__).resolve().parents[2]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REELSTREAM_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        argv = load_argv(self.cfg, manifest_path, out)
        self.log(f"load: {' '.join(argv[1:])}")
        with (self.data_dir / "load.log").open("ab") as log:
            return subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
                start_new_session=True,
            )  # fmt: skip

    def invariants(self, manifest_path: Path, load_rc: int | None) -> list[dict[str, Any]]:
        """The campaign's own: faults injected and healed, the cluster whole again."""
        out: list[dict[str, Any]] = []

        def add(name: str, ok: bool, detail: str) -> None:
            out.append({"name": name, "ok": ok, "detail": detail})

        bad = [f"{r.kind}/{r.target}: {r.error or 'not healed'}" for r in self.records if not r.ok]
        add("every fault injected and healed", not bad, "; ".join(bad) or f"{len(self.records)}")
        deadline = time.monotonic() + 90
        down: list[str] = []
        frozen: list[str] = []
        while time.monotonic() < deadline:
            manifest = read_manifest(manifest_path)
            down, frozen = [], []
            for p in manifest["processes"]:
                if p["role"] == "cluster":
                    continue
                if not alive([p["pid"]]):
                    down.append(p["name"])
                hit = resolve(manifest, p["name"])
                if hit is not None and stopped(hit.pids):
                    frozen.append(p["name"])
            if not down and not frozen:
                break
            time.sleep(1)
        add("every process of cluster.json running", not down, ", ".join(down) or "all")
        add("no process left stopped (SIGSTOP)", not frozen, ", ".join(frozen) or "none")
        modes = {k: v for k, v in self.hub.modes().items() if v != "pass"}
        add("every link passing", not modes, str(modes) if modes else "all pass")
        left = [n for n, s in self.scratch.items() if s.ballast.exists()]
        add("no ballast left on a scratch disk", not left, ", ".join(left) or "none")
        edge = read_manifest(manifest_path)["edge_url"]
        ready = False
        for _ in range(60):
            try:
                ready = httpx.get(f"{edge}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready:
                break
            time.sleep(1)
        add("the edge answers /readyz 200", ready, edge)
        add("the load harness finished", load_rc == 0, f"exit code {load_rc}")
        return out

    def run(self) -> dict[str, Any]:
        """The whole campaign; returns the report (``report.build``'s input)."""
        cfg = self.cfg
        self.t0 = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o755)  # PostgreSQL (user postgres) must traverse it
        out: dict[str, Any] = {"started_at": time.time()}
        load: subprocess.Popen[bytes] | None = None
        load_out = self.data_dir / "load.json"
        try:
            self._mount_scratch()
            cluster = self._start_cluster()
            manifest_path = cluster.manifest_path
            run = CampaignRun(
                self.data_dir, manifest_path, read_manifest(manifest_path), load_out,
                ready_timeout_s=cfg.ready_timeout_s,
            )  # fmt: skip
            if self.hooks.before_load is not None:
                self.hooks.before_load(run)
            load = self._start_load(manifest_path, load_out)
            self._wait_seeded(cluster.edge_url, load)
            self.log("seed videos ready: faults start")
            self.run_schedule(manifest_path)
            out["healed_at_end"] = self.heal_everything(manifest_path)
            run.faults_ended_at = time.time()
            self.log(f"faults over; healed at the end: {out['healed_at_end'] or 'nothing left'}")
            try:
                load.wait(cfg.duration_s + 600)
            except subprocess.TimeoutExpired:
                self.log("the load harness did not end in time: killed")
                os.killpg(load.pid, signal.SIGKILL)
                load.wait()
            out["load_exit_code"] = load.returncode
            if load_out.exists():
                run.load_report = read_manifest(load_out)
            out["invariants"] = self.invariants(manifest_path, load.returncode)
            run.manifest = read_manifest(manifest_path)
            if self.hooks.check is not None:
                self.log("checks: running the check hook")
                outcome = self.hooks.check(run)
                out["check"] = {"ok": outcome.ok, **outcome.to_dict()}
                out["check_markdown"] = outcome.to_markdown()
            out["load"] = run.load_report
            out["supervisor_restarts"] = dict(cluster.supervisor.restarts)
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
            self.log(f"campaign failed: {out['error']}")
        finally:
            if load is not None and load.poll() is None:
                os.killpg(load.pid, signal.SIGKILL)
                load.wait()
            self.shutdown()
        out["faults"] = [vars(r) | {"ok": r.ok} for r in self.records]
        out["events"] = list(self.events)
        return out

    def shutdown(self) -> None:
        """Stop the supervisor, the cluster, the proxies; unmount the scratch disks."""
        self._stop.set()
        if self.cluster is not None:
            self.hub.heal_all()
            for s in self.scratch.values():
                s.empty()
            left = self.cluster.stop()
            if left:
                self.log(f"killed processes that outlived the stop: {left}")
        self.hub.close()
        for s in self.scratch.values():
            s.unmount()
