"""The checks over what the clients saw (the load harness's JSON report): viewers and the API.

* viewers: no failed session (a viewer that could not continue), no 404 on anything a playlist
  named, and the rebuffer ratio per phase and in total (at most ``max_rebuffer_ratio``);
* API (every request but media: API clients, playback, uploads): no 5xx other than a 503 with
  ``Retry-After``, no request that hung past the client's timeout.

A report without the fields these checks read (from a harness older than them) fails the check
rather than passing it blindly.
"""

from __future__ import annotations

from typing import Any

from benchmarks.chaos.verdict import Check


def _phases(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [*report.get("phases", []), report["total"]] if "total" in report else []


def check_viewers(report: dict[str, Any], max_rebuffer_ratio: float) -> Check:
    problems: list[str] = []
    total = report.get("total", {}).get("viewers")
    if total is None or "failed_sessions" not in total or "missing_media" not in report:
        return Check.of("viewers", "the report lacks viewer outcomes", {}, ["no viewer fields"])
    for s in report.get("failed_sessions", []):
        problems.append(f"viewer of {s['video_id']} at t={s['t']} s failed ({s['failed']})")
    listed = len(report.get("failed_sessions", []))
    if total["failed_sessions"] > listed:
        problems.append(f"{total['failed_sessions'] - listed} more failed sessions")
    for m in report.get("missing_media", []):
        problems.append(f"a playlist of {m['video_id']} named a missing object: {m['url']}")
    if total["missing_media"] > len(report["missing_media"]):
        problems.append(f"{total['missing_media'] - len(report['missing_media'])} more 404s")
    ratios = {p["phase"]: p["viewers"]["rebuffer_ratio"] for p in _phases(report)}
    for phase, ratio in ratios.items():
        if ratio is not None and ratio > max_rebuffer_ratio:
            limit = f"{max_rebuffer_ratio:.2%}"
            problems.append(f"rebuffer ratio {ratio:.4%} in {phase} (limit {limit})")
    counts = {
        "sessions": total["sessions"],
        "failed_sessions": total["failed_sessions"],
        "missing_media": total["missing_media"],
        "rebuffer_ratio": ratios,
        "stalls": total["stalls"],
    }
    summary = f"{total['sessions']} sessions, {total['failed_sessions']} failed"
    return Check.of("viewers", summary, counts, problems)


def check_api(report: dict[str, Any]) -> Check:
    api = report.get("total", {}).get("api", {})
    if "server_errors" not in api or "hung" not in api:
        return Check.of("api", "the report lacks 5xx/timeout counts", {}, ["no API fields"])
    problems: list[str] = []
    shed = 0
    for status, n in api["server_errors"].items():
        if status == "503":
            shed += n["retry_after"]
            if n["bare"]:
                problems.append(f"{n['bare']} answers 503 without Retry-After")
        else:
            total = n["retry_after"] + n["bare"]
            problems.append(f"{total} answers {status}")
    for kind, n in api["hung"].items():
        problems.append(f"{n} {kind} requests hung past the client's timeout")
    if problems:  # name the phases where it happened
        for p in report.get("phases", []):
            bad = {k: v for k, v in p["api"]["server_errors"].items() if k != "503"}
            if bad or p["api"]["hung"]:
                problems.append(f"phase {p['phase']}: 5xx {bad}, hung {p['api']['hung']}")
    counts = {
        "requests": api.get("requests", 0),
        "shed_503_with_retry_after": shed,
        "server_errors": api["server_errors"],
        "hung": sum(api["hung"].values()),
    }
    return Check.of("api", f"{shed} shed with Retry-After", counts, problems)
