"""Run a rolling upgrade of the local cluster under the load harness, and judge it.

The driver is the cluster's supervisor for the run (it starts ``LocalCluster`` in-process
rather than attaching to a ``reelstream cluster up`` in another process: replacing roles
means owning their processes). The sequence:

1. build the old release (a git ref; default: the merge-base with ``main``) and the new one
   (default: the working tree) as versioned artifacts;
2. start the cluster on the old release, seed a small catalogue (a short harness run);
3. start the harness (uploaders with interruptions, viewers, API clients) for
   ``duration_s``; after ``warmup_s``: migrate expand, roll the api tier (canary first), the
   origins, the workers, reload the edge, migrate contract;
4. when the harness ends: its failures, every acknowledged upload ``ready`` with exactly one
   succeeded transcode (``check.py``), the schema at the contract head.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from benchmarks.upgrade import check
from reelstream.db.migrate import current_revisions
from reelstream.devcluster.artifact import Artifact, build_artifact
from reelstream.devcluster.cluster import ClusterSpec, LocalCluster
from reelstream.devcluster.process import free_port
from reelstream.devcluster.roles import RoleProcess
from reelstream.devcluster.rolling import RollingUpgrade

LOAD_ENV = {  # all traffic is 127.0.0.1: one client would hit the per-IP limits at once
    "REELSTREAM_RATE_LIMIT_READS": "200000/minute",
    "REELSTREAM_RATE_LIMIT_WRITES": "100000/minute",
    "REELSTREAM_RATE_LIMIT_UPLOAD": "100000/hour",
}
REPO = Path(__file__).resolve().parents[2]


@dataclass
class UpgradeOptions:
    data_dir: Path
    artifacts_dir: Path
    from_ref: str | None = "merge-base"
    """A git ref; "merge-base": ``git merge-base HEAD main``; None: the working tree."""
    to_ref: str | None = None
    apis: int = 1
    origins: int = 1
    workers: int = 1
    duration_s: float = 150.0
    warmup_s: float = 10.0
    canary_s: float = 10.0
    seed_videos: int = 2
    viewer_rate: float = 1.0
    api_rate: float = 5.0
    upload_rate: float = 0.2
    first_migrate_phase: str = "all"
    ready_timeout_s: float = 240.0
    grace_s: float | None = None
    """REELSTREAM_SHUTDOWN_GRACE_S of the roles (None: the cluster's 10 s). Short, with
    ``worker_mid_job``, a replaced worker hands its running job back instead of finishing it."""
    worker_mid_job: bool = False
    """Replace the workers while a job runs (waiting up to 60 s for one)."""
    load_args: list[str] = field(default_factory=list)


def resolve_ref(ref: str | None) -> str | None:
    if ref != "merge-base":
        return ref
    out = subprocess.run(
        ["git", "-C", str(REPO), "merge-base", "HEAD", "main"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip()


def load_argv(opts: UpgradeOptions, manifest: Path, json_out: Path, *, seed: bool) -> list[str]:
    argv = [sys.executable, "-m", "benchmarks.load", "--cluster", str(manifest)]
    argv += ["--json-out", str(json_out), "--format", "markdown", "--profile", "steady"]
    if seed:
        return [*argv, "--duration", "1", "--seed-videos", str(opts.seed_videos),
                "--viewer-rate", "0.01", "--api-rate", "0.01"]  # fmt: skip
    return [
        *argv,
        "--duration", str(opts.duration_s),
        "--viewer-rate", str(opts.viewer_rate), "--watch-s", "20",
        "--api-rate", str(opts.api_rate),
        "--upload-rate", str(opts.upload_rate), "--upload-clip-s", "3", "--chunk-size", "128K",
        "--drain", "90",
        *opts.load_args,
    ]  # fmt: skip


def run_load(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def build(opts: UpgradeOptions) -> tuple[Artifact, Artifact]:
    old = build_artifact(REPO, resolve_ref(opts.from_ref), opts.artifacts_dir)
    new = build_artifact(REPO, opts.to_ref, opts.artifacts_dir)
    return old, new


def run_upgrade(opts: UpgradeOptions, echo: Any = print) -> dict[str, Any]:
    """The whole run; returns the result (``verdict["ok"]`` says whether it held)."""
    t_build = time.monotonic()
    old, new = build(opts)
    echo(f"artifacts: {old.version} -> {new.version} ({time.monotonic() - t_build:.0f} s)")
    os.environ.update({k: v for k, v in LOAD_ENV.items() if k not in os.environ})
    if opts.grace_s is not None:
        os.environ["REELSTREAM_SHUTDOWN_GRACE_S"] = str(opts.grace_s)
    spec = ClusterSpec(
        opts.data_dir,
        apis=opts.apis,
        origins=opts.origins,
        workers=opts.workers,
        http_workers=1,
        edge_port=free_port(),  # never the shared default 8080: other clusters may run here
        pythonpath=old.pythonpath,
        migrate_phase=opts.first_migrate_phase,
    )
    cluster = LocalCluster(spec, echo=echo)
    result: dict[str, Any] = {"from": old.version, "to": new.version}
    try:
        cluster.start()
        result.update(_under_load(cluster, opts, new, echo))
    finally:
        left = cluster.stop()
        result["left_running"] = left
    result["verdict"] = verdict(result)
    return result


def _under_load(
    cluster: LocalCluster, opts: UpgradeOptions, new: Artifact, echo: Any
) -> dict[str, Any]:
    out_dir = cluster.data_dir / "upgrade"
    out_dir.mkdir(exist_ok=True)
    seed_json, load_json = out_dir / "seed.json", out_dir / "load.json"
    log_path = out_dir / "load.log"
    seed = run_load(load_argv(opts, cluster.manifest_path, seed_json, seed=True), log_path)
    if seed.wait(600) != 0:
        raise RuntimeError(f"seeding the catalogue failed: see {log_path}")
    schema_before = sorted(current_revisions(cluster.writer_url))
    roll = RollingUpgrade(cluster, new.pythonpath, version=new.version, canary_s=opts.canary_s,
                          echo=echo)  # fmt: skip
    load = run_load(load_argv(opts, cluster.manifest_path, load_json, seed=False), log_path)
    t0 = time.monotonic()
    try:
        time.sleep(opts.warmup_s)
        roll.migrate("expand")
        roll.roll_http("api")
        roll.roll_http("origin")
        mid_job = None
        if opts.worker_mid_job:

            def mid_job(old: RoleProcess) -> None:
                assert old.pid is not None
                running = _wait_running_job(cluster.writer_url, old.pid, 60)
                echo(f"upgrade: {running} job(s) running as {old.name} is stopped")

        roll.roll_workers(mid_job)
        roll.reload_edge()
        roll.migrate("contract")
        upgrade_s = time.monotonic() - t0
        echo(f"upgrade done in {upgrade_s:.1f} s; the load goes on until its end")
        load.wait(opts.duration_s + 600)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    if load.returncode != 0:
        raise RuntimeError(f"the load harness failed ({load.returncode}): see {log_path}")
    report = json.loads(load_json.read_text())
    acknowledged = [v for v in report["acknowledged_uploads"] if v]
    not_ready = check.wait_ready(
        cluster.edge_url, cluster.admin_token, acknowledged, opts.ready_timeout_s
    )
    videos = anyio.run(check.jobs_of, cluster.writer_url, acknowledged)
    return {
        "load": check.load_failures(report),
        "jobs": {**check.job_verdict(videos, acknowledged), "not_ready_in_time": not_ready},
        "steps": [
            {
                **s,
                "start": round(float(str(s["start"])) - t0, 2),
                "end": round(float(str(s["end"])) - t0, 2),
            }
            for s in roll.steps
        ],
        "canaries": roll.canaries,
        "upgrade_s": round(upgrade_s, 1),
        "load_s": opts.duration_s,
        "schema_before": schema_before,
        "schema_after": sorted(current_revisions(cluster.writer_url)),
        "roles_after": [{"name": r.name, "role": r.role, "url": r.url} for r in cluster.roles],
        "load_report": str(load_json),
    }


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    """Zero of everything that must be zero; the upgrade inside the load window. (A GET sent
    on a keep-alive connection an edge reload closed is sent again at once, as a browser
    does, and counted in ``resent_after_keepalive_close``: it never reached a server.)"""
    if "load" not in result:
        return {"ok": False, "why": ["the run did not finish"]}
    load, jobs = result["load"], result["jobs"]
    why = []
    for key in (
        "failed_viewer_sessions",
        "failed_viewer_requests",
        "failed_uploads",
        "server_errors",
    ):
        if load[key]:
            why.append(f"{key}: {load[key]}")
    for key in ("lost", "not_ready", "failed_jobs", "transcode_not_exactly_once"):
        if jobs[key]:
            why.append(f"{key}: {jobs[key]}")
    if result["upgrade_s"] >= result["load_s"]:
        why.append("the upgrade outlasted the load")
    if load["uploads_acknowledged"] == 0:
        why.append("no upload was acknowledged: nothing shows uploads survived")
    return {"ok": not why, "why": why}


def _wait_running_job(database_url: str, worker_pid: int, timeout_s: float) -> int:
    """Until the worker ``worker_pid`` runs a job (bounded); how many it runs then."""
    deadline = time.monotonic() + timeout_s
    while True:
        running = anyio.run(check.running_jobs, database_url, worker_pid)
        if running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)
