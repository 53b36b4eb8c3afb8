"""The report: per phase, latency percentiles per request kind, errors by status, the edge's
hit ratio, origin fetches, viewer startup and stalls, API shed/limited counts, uploads, and the
server's queue depth; for a spike, a per-second timeline and the API's recovery time.

``build`` returns a JSON-ready dict; ``tables`` lays it out as rows that ``render_markdown`` or
``render_rich`` print.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from benchmarks.load.profile import Phase, Profile
from benchmarks.load.recorder import Recorder, Sample, ServerSample
from benchmarks.load.server import MEDIA_FETCHES

MEDIA_KINDS = ("master", "playlist", "init", "segment")
QUEUE_DEPTH_NAMES = ("reelstream_queue_depth", "jobs.queued")
SHED_NAME = "reelstream_http_shed_total"
LISTED = 200  # at most this many failed sessions / missing objects listed by name
RECOVERY_FACTOR = 1.5  # "back to baseline": p99 within 1.5x the p99 before the spike


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def latency_summary(samples: Sequence[Sample]) -> dict[str, Any]:
    """Percentiles over the requests that got an answer below 400 (served ones)."""
    served = [s.latency_s for s in samples if not s.failed]
    errors = Counter(
        str(s.status) if s.status else (s.error or "exception") for s in samples if s.failed
    )
    return {
        "count": len(samples),
        "served": len(served),
        "p50_ms": _ms(percentile(served, 50)),
        "p95_ms": _ms(percentile(served, 95)),
        "p99_ms": _ms(percentile(served, 99)),
        "max_ms": _ms(max(served) if served else None),
        "errors": dict(sorted(errors.items())),
    }


def counter_delta(samples: Sequence[ServerSample], name: str, start: float, end: float) -> float:
    """How much a counter grew over [start, end), summed over the servers that export it."""
    total = 0.0
    for url in {s.url for s in samples}:
        series = [(s.t, s.values[name]) for s in samples if s.url == url and name in s.values]
        before = [v for t, v in series if t < start]
        inside = [v for t, v in series if start <= t < end]
        if not inside:
            continue
        base = before[-1] if before else inside[0]
        total += max(0.0, inside[-1] - base)
    return total


def queue_depth(samples: Sequence[ServerSample], start: float, end: float) -> dict[str, Any]:
    """Min/max of the queue depth over the phase (the newest servers' own depth gauge when
    exported, else the jobs queued), and of the oldest job's age when exported."""
    inside = [s for s in samples if start <= s.t < end]
    out: dict[str, Any] = {}
    for name in QUEUE_DEPTH_NAMES:
        by_t: dict[float, float] = {}
        for s in inside:
            if name in s.values:
                by_t[round(s.t)] = max(by_t.get(round(s.t), 0.0), s.values[name])
        if by_t:
            out.update(
                queue_depth_min=min(by_t.values()),
                queue_depth_max=max(by_t.values()),
                queue_depth_metric=name,
            )
            break
    ages = [v for s in inside for k, v in s.values.items() if "oldest" in k]
    if ages:
        out["oldest_job_age_max_s"] = max(ages)
    inflight = [v for s in inside for k, v in s.values.items() if "inflight" in k]
    if inflight:
        out["inflight_max"] = max(inflight)
    return out


def server_errors(samples: Iterable[Sample]) -> dict[str, dict[str, int]]:
    """5xx answers by status: how many carried Retry-After and how many were bare."""
    out: dict[str, dict[str, int]] = {}
    for s in samples:
        if s.status >= 500:
            entry = out.setdefault(str(s.status), {"retry_after": 0, "bare": 0})
            entry["retry_after" if s.retry_after else "bare"] += 1
    return dict(sorted(out.items()))


def phase_report(rec: Recorder, phase: Phase) -> dict[str, Any]:
    samples = [s for s in rec.samples if phase.contains(s.t)]
    kinds = sorted({s.kind for s in samples})
    media = [s for s in samples if s.kind in MEDIA_KINDS]
    cache = Counter(s.cache for s in media if s.cache)
    carried = sum(cache.values())
    viewers = [v for v in rec.viewers if phase.contains(v.t)]
    startups = [v.startup_s for v in viewers if v.startup_s is not None]
    play = sum(v.play_s for v in viewers)
    stall = sum(v.stall_s for v in viewers)
    api = [s for s in samples if s.kind.startswith("api.")]
    uploads = [u for u in rec.uploads if phase.contains(u.t)]
    statuses = Counter(str(s.status) if s.status else "exception" for s in samples if s.failed)
    not_media = [s for s in samples if s.kind not in MEDIA_KINDS]
    return {
        "phase": phase.name,
        "start_s": phase.start_s,
        "end_s": phase.end_s,
        "requests": {k: latency_summary([s for s in samples if s.kind == k]) for k in kinds},
        "errors_by_status": dict(sorted(statuses.items())),
        "edge": {
            "hit_ratio": round(cache.get("HIT", 0) / carried, 4) if carried else None,
            "cache_status": dict(sorted(cache.items())),
            "media_responses": len(media),
        },
        "origin_fetches": counter_delta(rec.server, MEDIA_FETCHES, phase.start_s, phase.end_s),
        "viewers": {
            "sessions": len(viewers),
            "started": len(startups),
            "startup_p50_ms": _ms(percentile(startups, 50)),
            "startup_p95_ms": _ms(percentile(startups, 95)),
            "stalls": sum(v.stalls for v in viewers),
            "stall_s": round(stall, 3),
            "play_s": round(play, 3),
            "rebuffer_ratio": round(stall / (play + stall), 5) if play + stall > 0 else None,
            "failed_requests": sum(sum(v.failed.values()) for v in viewers),
            "failed_by_kind": dict(
                Counter(k for v in viewers for k, n in v.failed.items() for _ in range(n))
            ),
            "outcomes": dict(Counter(v.outcome for v in viewers)),
            "rung_switches": sum(v.rung_switches for v in viewers),
            "failed_sessions": sum(1 for v in viewers if v.outcome == "failed"),
            "missing_media": sum(len(v.missing) for v in viewers),
        },
        "api": {
            "requests": len(api),
            "shed_503": sum(1 for s in api if s.status == 503),
            "limited_429": sum(1 for s in api if s.status == 429),
            "server_shed_total": counter_delta(rec.server, SHED_NAME, phase.start_s, phase.end_s),
            # every request but media (API, playback, uploads): 5xx by status, with and
            # without Retry-After; requests that hung past the client's timeout, by kind
            "server_errors": server_errors(not_media),
            "hung": dict(sorted(Counter(s.kind for s in samples if s.hung).items())),
        },
        "media_server_errors": server_errors([s for s in samples if s.kind in MEDIA_KINDS]),
        "uploads": {
            "started": len(uploads),
            "acknowledged": sum(1 for u in uploads if u.acknowledged),
            "failed": sum(1 for u in uploads if not u.acknowledged and u.error),
            "interruptions": sum(u.interruptions for u in uploads),
            "resumes": sum(u.resumes for u in uploads),
        },
        "server": queue_depth(rec.server, phase.start_s, phase.end_s),
    }


def timeline(rec: Recorder, end_s: float) -> list[dict[str, Any]]:
    """Per second: API requests, their p99 (admitted: answered below 400), 503s; segment p99."""
    seconds = max(0, math.ceil(end_s))
    by_second: list[list[Sample]] = [[] for _ in range(seconds)]
    for s in rec.samples:
        if 0 <= s.t < seconds:
            by_second[int(s.t)].append(s)
    depths: list[list[float]] = [[] for _ in range(seconds)]
    for m in rec.server:
        if 0 <= m.t < seconds:
            depths[int(m.t)] += [v for k, v in m.values.items() if k in QUEUE_DEPTH_NAMES]
    rows = []
    for sec in range(seconds):
        inside, depth = by_second[sec], depths[sec]
        api = [s for s in inside if s.kind.startswith("api.")]
        segs = [s.latency_s for s in inside if s.kind == "segment" and not s.failed]
        rows.append(
            {
                "t": sec,
                "api": len(api),
                "api_p99_ms": _ms(percentile([s.latency_s for s in api if not s.failed], 99)),
                "api_503": sum(1 for s in api if s.status == 503),
                "segment_p99_ms": _ms(percentile(segs, 99)),
                "queue_depth": max(depth) if depth else None,
            }
        )
    return rows


def recovery_s(
    rows: Sequence[dict[str, Any]], baseline_p99_ms: float | None, drop_s: float
) -> float | None:
    """Seconds from the drop back to 1x until the API's p99 stays within ``RECOVERY_FACTOR`` of
    the baseline (every later second with requests too); None if it never does."""
    if baseline_p99_ms is None:
        return None
    limit = RECOVERY_FACTOR * baseline_p99_ms
    after = [r for r in rows if r["t"] >= drop_s and r["api_p99_ms"] is not None]
    for i, row in enumerate(after):
        if all(r["api_p99_ms"] <= limit for r in after[i:]):
            return round(float(row["t"]) - drop_s, 1)
    return None


def build(rec: Recorder, profile: Profile, info: dict[str, Any]) -> dict[str, Any]:
    phases = profile.phases()
    whole = Phase("total", 0.0, math.inf)
    report: dict[str, Any] = {
        **info,
        "phases": [phase_report(rec, p) for p in phases],
        "total": phase_report(rec, whole),
        "acknowledged_uploads": [u.video_id for u in rec.uploads if u.acknowledged],
        # what the client sent, for a checker to compare with what the server stored
        "acknowledged_sources": [
            {"video_id": u.video_id, "size": u.size, "sha256": u.sha256}
            for u in rec.uploads
            if u.acknowledged
        ],
        "failed_uploads": [
            {"video_id": u.video_id, "error": u.error}
            for u in rec.uploads
            if not u.acknowledged and u.error
        ],
        # cut by the deadline (after --drain) or the request budget: neither kept nor refused
        "unfinished_uploads": [
            u.video_id for u in rec.uploads if not u.acknowledged and not u.error
        ],
        # the sessions that could not continue, and every 404 on what a playlist named
        "failed_sessions": [
            {"video_id": v.video_id, "t": round(v.t, 3), "failed": dict(v.failed)}
            for v in rec.viewers
            if v.outcome == "failed"
        ][:LISTED],
        "missing_media": [
            {"video_id": v.video_id, "url": url} for v in rec.viewers for url in v.missing
        ][:LISTED],
        "client_overflow": dict(rec.overflow),
        "requests_sent": rec.sent,
        "resent_after_keepalive_close": rec.resent,
    }
    if not any(s.cache for s in rec.samples):
        report.setdefault("notes", []).append(
            "no media response carried X-Cache-Status: not behind the edge, no hit ratio"
        )
    if profile.kind == "spike":
        rows = timeline(rec, profile.total_s)
        before = [
            s.latency_s
            for s in rec.samples
            if s.kind.startswith("api.") and not s.failed and s.t < profile.baseline_s
        ]
        report["timeline"] = rows
        report["api_recovery_s"] = recovery_s(
            rows, _ms(percentile(before, 99)), profile.spike_end_s
        )
    return report


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "0"
    return str(value)


Table = tuple[str, list[str], list[list[str]]]


def tables(report: dict[str, Any]) -> list[Table]:
    phases: list[dict[str, Any]] = list(report["phases"])
    if len(phases) > 1:
        phases.append(report["total"])
    lat_rows = [
        [
            p["phase"],
            kind,
            *(_fmt(r[k]) for k in ("count", "p50_ms", "p95_ms", "p99_ms")),
            _fmt(r["errors"]),
        ]
        for p in phases
        for kind, r in p["requests"].items()
    ]
    summary = [
        (
            "viewers (started / sessions)",
            lambda p: f"{p['viewers']['started']} / {p['viewers']['sessions']}",
        ),
        (
            "startup p50 / p95 ms",
            lambda p: (
                f"{_fmt(p['viewers']['startup_p50_ms'])} / {_fmt(p['viewers']['startup_p95_ms'])}"
            ),
        ),
        ("stalls (s)", lambda p: f"{p['viewers']['stalls']} ({p['viewers']['stall_s']})"),
        ("rebuffer ratio", lambda p: _fmt(p["viewers"]["rebuffer_ratio"])),
        ("failed viewer requests", lambda p: _fmt(p["viewers"]["failed_requests"])),
        ("edge hit ratio", lambda p: _fmt(p["edge"]["hit_ratio"])),
        ("origin fetches", lambda p: _fmt(p["origin_fetches"])),
        ("API 503 shed / 429", lambda p: f"{p['api']['shed_503']} / {p['api']['limited_429']}"),
        ("API 5xx (with Retry-After / bare)", lambda p: _fmt_5xx(p["api"]["server_errors"])),
        ("hung requests", lambda p: _fmt(sum(p["api"]["hung"].values()))),
        ("viewers failed / missing media", lambda p: _fmt_viewer_failures(p["viewers"])),
        (
            "uploads ack / failed",
            lambda p: f"{p['uploads']['acknowledged']} / {p['uploads']['failed']}",
        ),
        (
            "queue depth min-max",
            lambda p: (
                f"{_fmt(p['server'].get('queue_depth_min'))}-"
                f"{_fmt(p['server'].get('queue_depth_max'))}"
            ),
        ),
        ("errors by status", lambda p: _fmt(p["errors_by_status"])),
    ]
    sum_rows = [[name, *(get(p) for p in phases)] for name, get in summary]
    return [
        (
            "Latency by request kind",
            ["phase", "kind", "n", "p50 ms", "p95 ms", "p99 ms", "errors"],
            lat_rows,
        ),
        ("Summary by phase", ["", *(p["phase"] for p in phases)], sum_rows),
    ]


def _fmt_5xx(errors: dict[str, dict[str, int]]) -> str:
    parts = [f"{status}: {e['retry_after']} / {e['bare']}" for status, e in errors.items()]
    return ", ".join(parts) or "0"


def _fmt_viewer_failures(viewers: dict[str, Any]) -> str:
    return f"{viewers['failed_sessions']} / {viewers['missing_media']}"


def render_markdown(report: dict[str, Any]) -> str:
    out: list[str] = []
    for title, head, rows in tables(report):
        out += [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        out.append("")
    out += [f"- {note}" for note in _notes(report)]
    return "\n".join(out) + "\n"


def _notes(report: dict[str, Any]) -> Iterable[str]:
    yield from report.get("notes", [])
    for actor, n in report.get("client_overflow", {}).items():
        yield (
            f"the harness dropped {n} {actor} arrivals (its own in-flight bound was full): "
            "the client, not the server, was the limit there"
        )
    if "api_recovery_s" in report:
        yield f"API recovery after the spike: {_fmt(report['api_recovery_s'])} s"
    yield f"acknowledged uploads: {len(report['acknowledged_uploads'])}"


def render_rich(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    for title, head, rows in tables(report):
        table = RichTable(title=title)
        for h in head:
            table.add_column(h)
        for r in rows:
            table.add_row(*r)
        console.print(table)
    for note in _notes(report):
        console.print(f"• {note}")
