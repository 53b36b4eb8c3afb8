"""The chaos campaign, short form (what CI runs on every change): the real local cluster
(2 apis, 2 origins, 2 workers) under the load harness's workload, >= 20 overlapping faults of
>= 6 kinds in a minute and a half, every one injected and healed, the cluster whole again
afterwards (every process of cluster.json running, none frozen, every link passing, no ballast,
the edge ready), the load harness finished, and the independent checker (``checker.run_checks``,
wired as ``python -m benchmarks.chaos`` wires it, with its webhook sink) passing every check:
acknowledged sources stored byte for byte, every video ready and published once, playable to
the end, no failed viewer session, no 5xx but 503 with Retry-After, janitors done.

Slow (a few minutes): marked ``e2e`` like the other cluster tests. Needs root (tmpfs scratch
disks; PostgreSQL runs as the postgres user) and the cluster's engines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.chaos.__main__ import make_hooks
from benchmarks.chaos.campaign import Campaign, CampaignConfig, CampaignRun, CheckOutcome
from benchmarks.chaos.webhooks import WebhookSink

from benchmarks.chaos import report
from reelstream.devcluster.cluster import missing_requirements
from reelstream.devcluster.process import alive
from tests.support import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="reelstream-chaos-", dir="/tmp"))
    root.chmod(0o755)  # PostgreSQL (user postgres) must traverse it
    yield root / "run"
    shutil.rmtree(root, ignore_errors=True)


def test_a_short_campaign_injects_and_heals_every_fault(data_dir: Path) -> None:
    missing = missing_requirements()
    require(not missing, f"the local cluster's engines ({', '.join(missing)})")
    require(os.geteuid() == 0, "root (the workers' scratch tmpfs)")
    cfg = CampaignConfig(
        seed=11,
        duration_s=90,
        faults=24,
        data_dir=data_dir,
        max_overlap=3,
        min_hold_s=1.0,
        max_hold_s=4.0,
        min_kinds=8,
        scratch_mb=128,
    )
    sink = WebhookSink(data_dir.parent / "webhooks.jsonl")
    hooks, seen = make_hooks(sink), []
    checker = hooks.check
    assert checker is not None

    def check(run: CampaignRun) -> CheckOutcome:
        seen.append(run)
        return checker(run)

    hooks.check = check
    campaign = Campaign(cfg, hooks, echo=lambda line: print(line, flush=True))
    try:
        result = campaign.run()
    finally:
        sink.stop()
    print(report.markdown(result))

    assert not result.get("error"), result.get("error")
    faults = result["faults"]
    kinds = {f["kind"] for f in faults}
    assert len(faults) >= 20 and len(kinds) >= 6, (len(faults), kinds)
    assert {"sigkill", "sigstop", "disk-full", "s3-errors"} <= kinds
    assert all(f["injected"] and f["healed"] and not f["error"] for f in faults), faults
    failed = [i for i in result["invariants"] if not i["ok"]]
    assert not failed, failed
    # the independent checker ran over the whole run and found nothing wrong
    verdict = result["check"]
    assert {c["name"] for c in verdict["checks"]} >= {
        "viewers",
        "api",
        "sources",
        "ready",
        "published_once",
        "playback",
        "janitors",
    }
    failing = [c for c in verdict["checks"] if not c["ok"]]
    assert not failing, failing
    assert verdict["ok"] and report.ok(result)
    sources = next(c for c in verdict["checks"] if c["name"] == "sources")
    assert sources["counts"]["acknowledged"] > 0  # uploads were acknowledged during the faults
    table = report.markdown(result)
    assert "| sigkill |" in table
    (run,) = seen
    # nothing left behind: every process stopped, every scratch tmpfs unmounted
    pids = [p["pid"] for p in run.manifest["processes"] if p["role"] != "cluster"]
    assert alive(pids) == []
    assert not any(s.path.is_mount() for s in campaign.scratch.values())
