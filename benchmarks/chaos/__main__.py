"""``python -m benchmarks.chaos --seed S --duration-s D --faults N --data-dir DIR
--report-json F --report-md F``: run the chaos campaign (``campaign``) on a local cluster started
in this process, print the Markdown report, exit 1 when an invariant or a check failed.

The check hook is ``make_hooks``: a webhook sink registered before the workload, and the
independent checker (``checker.run_checks``) over the manifest, the load report and the sink's
log after it.
Needs root (tmpfs scratch disks, PostgreSQL as the postgres user) and the cluster's engines.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from benchmarks.chaos import report
from benchmarks.chaos.campaign import Campaign, CampaignConfig, CampaignRun, Hooks
from benchmarks.chaos.checker import CheckInputs, CheckReport, run_checks
from benchmarks.chaos.webhooks import WebhookSink


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration-s", type=float, default=300.0, help="seconds of faults")
    p.add_argument("--faults", type=int, default=100, help="at most this many faults")
    p.add_argument("--max-overlap", type=int, default=2, help="faults at once, at most")
    p.add_argument("--min-hold-s", type=float, default=1.0)
    p.add_argument("--max-hold-s", type=float, default=8.0)
    p.add_argument("--data-dir", type=Path, required=True, help="cluster data, logs, load.json")
    p.add_argument("--report-json", type=Path)
    p.add_argument("--report-md", type=Path)
    p.add_argument("--apis", type=int, default=2)
    p.add_argument("--origins", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scratch-mb", type=int, default=256, help="each worker's scratch tmpfs")
    p.add_argument("--ready-timeout-s", type=float, default=180.0, help="for the checker")
    p.add_argument(
        "--load-arg", action="append", default=[], help="an extra benchmarks.load option"
    )
    return p


def make_hooks(sink: WebhookSink) -> Hooks:
    """Register ``sink`` for every event once the cluster is up; check with the independent
    checker once the faults and the workload ended."""

    def before_load(run: CampaignRun) -> None:
        sink.start()
        sink.register(run.manifest["edge_url"], run.manifest["admin_token"])

    def check(run: CampaignRun) -> CheckReport:
        inputs = CheckInputs(
            manifest=run.manifest,
            report=run.load_report or {},
            webhook_log=sink.log_path,
            ready_timeout_s=run.ready_timeout_s,
        )
        return run_checks(inputs)

    return Hooks(before_load=before_load, check=check)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.faults < 1 or args.duration_s <= 0:
        print("error: --faults and --duration-s must be positive", file=sys.stderr)
        return 2
    cfg = CampaignConfig(
        seed=args.seed,
        duration_s=args.duration_s,
        faults=args.faults,
        data_dir=args.data_dir,
        apis=args.apis,
        origins=args.origins,
        workers=args.workers,
        max_overlap=args.max_overlap,
        min_hold_s=args.min_hold_s,
        max_hold_s=args.max_hold_s,
        scratch_mb=args.scratch_mb,
        ready_timeout_s=args.ready_timeout_s,
        load_args=[a for arg in args.load_arg for a in shlex.split(arg)],
    )
    sink = WebhookSink(args.data_dir / "webhooks.jsonl")
    try:
        result = Campaign(cfg, make_hooks(sink), echo=lambda line: print(line, flush=True)).run()
    finally:
        sink.stop()
    command = "python -m benchmarks.chaos " + shlex.join(sys.argv[1:] if argv is None else argv)
    result = {"command": command, "config": vars(args) | {"data_dir": str(args.data_dir)}, **result}
    result["config"] = {
        k: str(v) if isinstance(v, Path) else v for k, v in result["config"].items()
    }
    result["ok"] = report.ok(result)
    text = report.markdown(result)
    if args.report_json is not None:
        args.report_json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if args.report_md is not None:
        args.report_md.write_text(text)
    print(text)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
