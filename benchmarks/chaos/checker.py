"""The chaos campaign's independent checker: after the faults, is everything acknowledged there?

``run_checks(CheckInputs(manifest, report, webhook_log))`` takes the cluster's manifest
(``cluster.json``), the load harness's JSON report and the ``WebhookSink``'s log, and runs
named checks, each with counts and, when it fails, the exact video, object, row or request:

==================  ==========================================================================
``viewers``         no failed session, no 404 on what a playlist named, rebuffer ratio per phase
``api``             no 5xx but 503 with Retry-After; no request hung past the client's timeout
``sources``         every acknowledged upload exists; its stored source has the client's sha256
``ready``           each reaches ``ready`` within ``ready_timeout_s`` (API through the edge, and
                    the database)
``published_once``  one published rev with its master stored, one succeeded transcode job, one
                    ``video.ready`` event in the outbox and one distinct event id delivered
``playback``        every variant and audio playlist, fetched through the edge as a viewer gets
                    it, names only objects that exist and decodes to the end with the source's
                    duration ± ``duration_tolerance_s``
``janitors``        no orphan revs/objects, staging, multipart uploads or stale leases, apart
                    from what is kept by design (``benchmarks.chaos.janitors``); waits up to
                    ``janitor_timeout_s`` for the janitors to finish
==================  ==========================================================================

It trusts the server's API no more than a user would: the database and the object store are
read directly (``benchmarks.chaos.stored``), the media through the public edge. A check that
cannot run (an engine unreachable) fails with the reason; the others still run.

The sink must be registered (``WebhookSink.register``) before the load starts, with
``REELSTREAM_WEBHOOK_ALLOW_PRIVATE=true`` in the cluster's environment; without a log
(``webhook_log=None``) the delivery half of ``published_once`` is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.chaos.checks_client import check_api, check_viewers
from benchmarks.chaos.checks_data import (
    check_published_once,
    check_ready,
    check_sources,
    ready_ids_in_log,
    source_key,
)
from benchmarks.chaos.janitors import check_janitors
from benchmarks.chaos.playback import PlaybackResult, check_playback, source_durations
from benchmarks.chaos.stored import (
    DbState,
    ObjectReader,
    Retention,
    open_store,
    read_db,
    staging_files,
)
from benchmarks.chaos.verdict import Check, CheckReport
from benchmarks.chaos.webhooks import read_log

__all__ = ["Check", "CheckInputs", "CheckReport", "run_checks"]

POLL_S = 1.0
DB_TRIES = 5  # the primary may just have failed over


@dataclass(frozen=True)
class CheckInputs:
    manifest: dict[str, Any]  # cluster.json
    report: dict[str, Any]  # the load harness's JSON report
    webhook_log: Path | None  # JSON lines written by WebhookSink
    ready_timeout_s: float = 300.0  # for every acknowledged video to reach ready
    janitor_timeout_s: float = 60.0  # for the janitors to leave nothing behind
    delivery_timeout_s: float = 60.0  # for each ready video's video.ready delivery
    max_rebuffer_ratio: float = 0.005
    duration_tolerance_s: float = 0.5
    retention: Retention | None = None  # None: the cluster's settings from the environment


def _db(url: str) -> DbState:
    for attempt in range(DB_TRIES):
        try:
            return read_db(url)
        except Exception:
            if attempt == DB_TRIES - 1:
                raise
            time.sleep(2.0)
    raise AssertionError("unreachable")


def _guarded(name: str, run: Callable[[], Check]) -> Check:
    try:
        return run()
    except Exception as exc:  # a check that cannot run fails, the others still run
        why = f"could not run: {type(exc).__name__}: {exc}"
        return Check(name, False, why[:500], {}, (why,))


def wait_ready(
    http: httpx.Client, edge_url: str, ids: list[str], timeout_s: float
) -> tuple[dict[str, tuple[int, str | None, str | None]], float]:
    """Poll ``GET /api/v1/videos/{id}`` until every video is ready or failed, or the time is
    up; id -> (HTTP status, video status, error) as last seen, and the seconds waited."""
    start = time.monotonic()
    last: dict[str, tuple[int, str | None, str | None]] = {}
    pending = list(ids)
    while pending:
        for vid in pending:
            try:
                r = http.get(f"{edge_url.rstrip('/')}/api/v1/videos/{vid}")
                body = r.json() if r.status_code == 200 else {}
                last[vid] = (r.status_code, body.get("status"), body.get("error"))
            except (httpx.HTTPError, ValueError) as exc:
                last[vid] = (0, None, type(exc).__name__)
        pending = [v for v in pending if last[v][1] not in ("ready", "failed")]
        if not pending or time.monotonic() - start >= timeout_s:
            break
        time.sleep(POLL_S)
    return last, time.monotonic() - start


def wait_deliveries(log: Path, ids: list[str], timeout_s: float) -> list[dict[str, Any]]:
    """The sink's log once every video in ``ids`` had its video.ready delivered (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        deliveries = read_log(log)
        got = ready_ids_in_log(deliveries)
        if all(got.get(v) for v in ids) or time.monotonic() >= deadline:
            return deliveries
        time.sleep(POLL_S)


def check_all_playback(
    http: httpx.Client,
    edge_url: str,
    store: ObjectReader,
    ids: list[str],
    tolerance_s: float,
) -> Check:
    problems: list[str] = []
    results: list[PlaybackResult] = []
    for vid in ids:
        durations = source_durations(store, source_key(vid))
        if durations is None:
            problems.append(f"video {vid}: the stored source cannot be read")
            continue
        res = check_playback(http, edge_url, vid, durations, tolerance_s)
        results.append(res)
        problems += [f"video {vid}: {p}" for p in res.problems]
    counts = {
        "videos": len(ids),
        "playlists": sum(r.playlists for r in results),
        "objects_fetched": sum(r.segments for r in results),
    }
    summary = f"{len(ids)} ready videos played through the edge"
    return Check.of("playback", summary, counts, problems)


def run_checks(inputs: CheckInputs) -> CheckReport:
    m, report = inputs.manifest, inputs.report
    sources: list[dict[str, Any]] = list(report.get("acknowledged_sources", []))
    ids = [str(s["video_id"]) for s in sources]
    edge = str(m["edge_url"])
    retention = inputs.retention or Retention.from_environment()
    store = open_store(m)
    checks = [
        _guarded("viewers", lambda: check_viewers(report, inputs.max_rebuffer_ratio)),
        _guarded("api", lambda: check_api(report)),
        _guarded("sources", lambda: check_sources(sources, _db(m["database_url"]), store)),
    ]
    headers = {"Authorization": f"Bearer {m['admin_token']}"}
    with (
        httpx.Client(headers=headers, timeout=30) as admin,
        httpx.Client(timeout=60) as viewer,
    ):
        api_state, waited = wait_ready(admin, edge, ids, inputs.ready_timeout_s)
        checks.append(
            _guarded(
                "ready", lambda: check_ready(sources, api_state, _db(m["database_url"]), waited)
            )
        )
        ready = [v for v in ids if api_state.get(v, (0, None, None))[1] == "ready"]
        log = inputs.webhook_log
        deliveries = wait_deliveries(log, ready, inputs.delivery_timeout_s) if log else None
        checks.append(
            _guarded(
                "published_once",
                lambda: check_published_once(sources, _db(m["database_url"]), store, deliveries),
            )
        )
        checks.append(
            _guarded(
                "playback",
                lambda: check_all_playback(viewer, edge, store, ready, inputs.duration_tolerance_s),
            )
        )
    checks.append(_guarded("janitors", lambda: _janitors(inputs, store, retention)))
    return CheckReport(tuple(checks))


def _janitors(inputs: CheckInputs, store: ObjectReader, retention: Retention) -> Check:
    """Re-checked every few seconds until clean or ``janitor_timeout_s``: a janitor's pass
    may still be running when the faults stop."""
    deadline = time.monotonic() + inputs.janitor_timeout_s
    while True:
        check = check_janitors(
            _db(inputs.manifest["database_url"]), store, staging_files(inputs.manifest), retention
        )
        if check.ok or time.monotonic() >= deadline:
            return check
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
