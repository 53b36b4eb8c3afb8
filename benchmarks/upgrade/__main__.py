"""``python -m benchmarks.upgrade [options]``: a rolling upgrade of the local cluster under
load (see ``driver.py``); prints the result as JSON (``--json-out`` writes it too) and exits 1
when anything that must be zero was not. ``--help`` lists the options.

A benchmark rather than ``reelstream cluster upgrade``: ``cluster up`` runs in another process,
which a command would have to drive over some control channel, and what this shows (the load
harness's figures around an upgrade) is a measurement; the mechanism it measures is
``reelstream.devcluster.rolling``, which such a command could call.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.upgrade.driver import UpgradeOptions, run_upgrade


def parse(argv: list[str] | None) -> tuple[UpgradeOptions, Path | None, bool]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.upgrade", description=__doc__)
    p.add_argument("--data-dir", type=Path, help="the cluster's folder [a new temporary one]")
    p.add_argument("--artifacts", type=Path, default=Path("data/artifacts"))
    p.add_argument(
        "--from-ref", default="merge-base", help="old release: a git ref [merge-base with main]"
    )
    p.add_argument("--to-ref", default=None, help="new release: a git ref [the working tree]")
    p.add_argument("--apis", type=int, default=1)
    p.add_argument("--origins", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--duration", type=float, default=150.0, help="seconds of load")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds of load before upgrading")
    p.add_argument("--canary", type=float, default=10.0, help="seconds the canary serves alone")
    p.add_argument("--viewer-rate", type=float, default=1.0)
    p.add_argument("--api-rate", type=float, default=5.0)
    p.add_argument("--upload-rate", type=float, default=0.2)
    p.add_argument("--grace", type=float, help="REELSTREAM_SHUTDOWN_GRACE_S of the roles [10]")
    p.add_argument(
        "--worker-mid-job", action="store_true", help="replace the workers while a job runs"
    )
    p.add_argument("--json-out", type=Path)
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    a = p.parse_args(argv)
    temp = a.data_dir is None
    data_dir = a.data_dir or Path(tempfile.mkdtemp(prefix="reelstream-upgrade-", dir="/tmp"))
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)  # PostgreSQL runs as postgres: the folders above must be traversable
    opts = UpgradeOptions(
        data_dir=data_dir / "cluster",
        artifacts_dir=a.artifacts.resolve(),
        from_ref=a.from_ref,
        to_ref=a.to_ref,
        apis=a.apis,
        origins=a.origins,
        workers=a.workers,
        duration_s=a.duration,
        warmup_s=a.warmup,
        canary_s=a.canary,
        viewer_rate=a.viewer_rate,
        api_rate=a.api_rate,
        upload_rate=a.upload_rate,
        grace_s=a.grace,
        worker_mid_job=a.worker_mid_job,
    )
    return opts, a.json_out, temp and not a.keep


def main(argv: list[str] | None = None) -> int:
    opts, json_out, remove = parse(argv)
    try:
        result = run_upgrade(opts)
    finally:
        if remove:
            shutil.rmtree(opts.data_dir.parent, ignore_errors=True)
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if json_out is not None:
        json_out.write_text(text + "\n")
    return 0 if result["verdict"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
