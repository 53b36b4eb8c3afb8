"""The campaign's report: the fault table (kind, count, what the system did), every fault with
its target and times, the campaign's own invariants, the load's headline figures and the
checker's results, as JSON (everything) and Markdown (for docs/reliability.md)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


def ok(report: dict[str, Any]) -> bool:
    """The run passed: no campaign error, every invariant held, the check hook (if any) ok."""
    if report.get("error"):
        return False
    if not report.get("invariants") or not all(i["ok"] for i in report["invariants"]):
        return False
    return bool(report.get("check", {}).get("ok", True))


def fault_table(faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per kind: how many, how many injected and healed, and what the heals said."""
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in faults:
        by_kind[f["kind"]].append(f)
    rows = []
    for kind, items in sorted(by_kind.items()):
        outcomes = Counter(
            (f["healed"].split(" (")[0].split(" as pid")[0] if f["healed"] else f["error"])
            for f in items
        )
        rows.append(
            {
                "kind": kind,
                "count": len(items),
                "injected": sum(1 for f in items if f["injected"]),
                "healed": sum(1 for f in items if f["ok"]),
                "targets": dict(Counter(f["target"] for f in items)),
                "outcomes": dict(outcomes),
            }
        )
    return rows


def _load_lines(load: dict[str, Any] | None) -> list[str]:
    if not load:
        return ["(no load report)"]
    total = load.get("total", {})
    v, a, u = total.get("viewers", {}), total.get("api", {}), total.get("uploads", {})
    return [
        f"- viewers: {v.get('sessions')} sessions, outcomes {v.get('outcomes')}, "
        f"rebuffer ratio {v.get('rebuffer_ratio')}, failed requests {v.get('failed_requests')}",
        f"- API: {a.get('requests')} requests, errors by status {total.get('errors_by_status')}",
        f"- uploads: {u.get('started')} started, {u.get('acknowledged')} acknowledged, "
        f"{u.get('failed')} failed, {u.get('interruptions')} interruptions, "
        f"{u.get('resumes')} resumes",
    ]


def markdown(report: dict[str, Any]) -> str:
    cfg = report.get("config", {})
    lines = [
        f"# Chaos campaign, seed {cfg.get('seed')}: {'PASS' if ok(report) else 'FAIL'}",
        "",
        f"Command: `{report.get('command', '')}`",
        "",
    ]
    if report.get("error"):
        lines += [f"**Campaign error:** {report['error']}", ""]
    faults = report.get("faults", [])
    kinds = {f["kind"] for f in faults}
    lines += [f"## Faults: {len(faults)} of {len(kinds)} kinds", ""]
    lines += [
        "| kind | count | injected | healed | targets | what happened |",
        "|---|---|---|---|---|---|",
    ]
    for row in fault_table(faults):
        targets = ", ".join(f"{t} x{n}" for t, n in sorted(row["targets"].items()))
        outcomes = "; ".join(f"{o} x{n}" for o, n in sorted(row["outcomes"].items()))
        lines.append(
            f"| {row['kind']} | {row['count']} | {row['injected']} | {row['healed']} "
            f"| {targets} | {outcomes} |"
        )
    lines += [
        "",
        "## Every fault",
        "",
        "| # | kind | target | start s | end s | injected | healed / error |",
    ]
    lines.append("|---|---|---|---|---|---|---|")
    for i, f in enumerate(faults, 1):
        lines.append(
            f"| {i} | {f['kind']} | {f['target']} | {f['start_s']} | {f['end_s']} "
            f"| {f['injected']} | {f['healed'] or f['error']} |"
        )
    lines += ["", "## Campaign invariants", "", "| invariant | ok | detail |", "|---|---|---|"]
    for inv in report.get("invariants", []):
        lines.append(f"| {inv['name']} | {'yes' if inv['ok'] else 'NO'} | {inv['detail']} |")
    restarts = report.get("supervisor_restarts", {})
    lines += ["", f"Supervisor restarts: {restarts or 'none'}", "", "## Load", ""]
    lines += _load_lines(report.get("load"))
    lines += ["", "## Checks", ""]
    lines.append(report.get("check_markdown") or "(no check hook)")
    return "\n".join(lines) + "\n"
