"""The chaos campaign, short form (what CI runs on every change): the real local cluster
(2 apis, 2 origins, 2 workers) under the load harness's workload, >= 20 overlapping faults of
>= 6 kinds in a minute and a half, every one injected and healed, the cluster whole again
afterwards (every process of cluster.json running, none frozen, every link passing, no ballast,
the edge ready), the load harness finished, and the check hook called with the manifest and the
load report (a placeholder here; the independent checker in the campaign command).

Slow (a few minutes): marked ``e2e`` like the other cluster tests. Needs root (tmpfs scratch
disks; PostgreSQL runs as the postgres user) and the cluster's engines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from benchmarks.chaos.campaign import Campaign, CampaignConfig, CampaignRun, Hooks

from benchmarks.chaos import report
from reelstream.devcluster.cluster import missing_requirements
from reelstream.devcluster.process import alive
from tests.support import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@dataclass
class Placeholder:
    """The checker's stand-in: records what it was given, always ok."""

    seen: list[CampaignRun] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"placeholder": True}

    def to_markdown(self) -> str:
        return "placeholder check: ok"


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
    placeholder = Placeholder()

    def check(run: CampaignRun) -> Placeholder:
        placeholder.seen.append(run)
        return placeholder

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
    campaign = Campaign(cfg, Hooks(check=check), echo=lambda line: print(line, flush=True))
    result = campaign.run()
    print(report.markdown(result))

    assert not result.get("error"), result.get("error")
    faults = result["faults"]
    kinds = {f["kind"] for f in faults}
    assert len(faults) >= 20 and len(kinds) >= 6, (len(faults), kinds)
    assert {"sigkill", "sigstop", "disk-full", "s3-errors"} <= kinds
    assert all(f["injected"] and f["healed"] and not f["error"] for f in faults), faults
    failed = [i for i in result["invariants"] if not i["ok"]]
    assert not failed, failed
    # the check hook saw the run: the manifest and the load's acknowledged uploads
    (run,) = placeholder.seen
    assert run.load_report is not None
    assert run.load_report["acknowledged_sources"]
    assert run.manifest["edge_url"]
    assert result["check"] == {"ok": True, "placeholder": True}
    assert report.ok(result)
    table = report.markdown(result)
    assert "| sigkill |" in table and "placeholder check: ok" in table
    # nothing left behind: every process stopped, every scratch tmpfs unmounted
    pids = [p["pid"] for p in run.manifest["processes"] if p["role"] != "cluster"]
    assert alive(pids) == []
    assert not any(s.path.is_mount() for s in campaign.scratch.values())
