"""A short rolling upgrade of a small real cluster under a light load (``benchmarks.upgrade``):
the current code, built as a wheel, replaces itself role by role (the api with its canary, the
origin, the worker while a job runs, with a short grace so that it hands the job back, then the
edge reloaded) while uploaders, viewers and API clients run; the cluster starts at the expand
phase of the video description and its contract migration runs under load at the end. Nothing
may fail: no viewer request, no upload, no job lost, failed or run to success twice.
``python -m benchmarks.upgrade`` is the long form, from the previous release. About 2 minutes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from benchmarks.upgrade.driver import UpgradeOptions, run_upgrade

from reelstream.db.migrate import alembic_config
from reelstream.devcluster.cluster import missing_requirements
from tests.support import require

pytestmark = pytest.mark.e2e


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@pytest.mark.timeout(900)
def test_rolling_upgrade_under_load_drops_nothing() -> None:
    missing = missing_requirements()
    require(not missing, f"the local cluster's engines ({', '.join(missing)})")
    root = Path(tempfile.mkdtemp(prefix="reelstream-upgrade-", dir="/tmp"))
    root.chmod(0o755)  # PostgreSQL runs as postgres: the folders above its data are traversed
    try:
        opts = UpgradeOptions(
            data_dir=root / "cluster",
            artifacts_dir=root / "artifacts",
            from_ref=None,
            to_ref=None,
            duration_s=150,  # the worker step waits for a job to run; a loaded machine is slow
            warmup_s=5,
            canary_s=5,
            seed_videos=1,
            viewer_rate=0.5,
            api_rate=3,
            upload_rate=0.25,
            first_migrate_phase="expand",
            grace_s=0.5,  # a worker replaced mid-job hands it back rather than finishing it
            worker_mid_job=True,
            ready_timeout_s=180,
        )
        result = run_upgrade(opts)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(result)
    load, jobs = result["load"], result["jobs"]
    assert result["schema_before"] == ["0008_video_description"]
    assert result["schema_after"] == [head_revision()]  # contract goes to head
    assert [s["step"] for s in result["steps"]][:2] == ["migrate expand", "api-1 -> api-2 (canary)"]
    assert {r["name"] for r in result["roles_after"]} == {"api-2", "origin-2", "worker-2"}
    assert load["viewer_sessions"] > 0
    assert load["failed_viewer_sessions"] == 0
    # a GET on a keep-alive connection an edge reload closed is sent again at once, as a
    # browser does (benchmarks/load/client.py); no viewer request may fail
    assert load["failed_viewer_requests"] == 0
    assert load["viewer_request_errors"] == {}
    assert load["uploads_acknowledged"] > 0
    assert load["failed_uploads"] == 0
    assert load["server_errors"] == 0
    assert jobs["lost"] == []
    assert jobs["not_ready"] == []
    assert jobs["failed_jobs"] == []
    assert jobs["transcode_not_exactly_once"] == []
    assert result["left_running"] == []
    assert result["verdict"] == {"ok": True, "why": []}
