"""What the rolling upgrade must not have broken, from the load report and the database.

A small checker of its own (the chaos campaign's independent checker may replace it): every
upload the client saw acknowledged has its video ``ready`` within a bound, published by
exactly one succeeded ``transcode`` job and no failed job; viewers saw no failed request;
uploads none failed; the API no 5xx.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from reelstream.db.database import normalize_url

VIEWER_KINDS = ("viewer.playback", "master", "playlist", "init", "segment")


def load_failures(report: dict[str, Any]) -> dict[str, Any]:
    """The failures the harness saw, over the whole run."""
    total = report["total"]
    server_errors = {k: v for k, v in total["errors_by_status"].items() if k.startswith("5")}
    viewer_errors: dict[str, int] = {}
    for kind in VIEWER_KINDS:
        for error, n in total["requests"].get(kind, {}).get("errors", {}).items():
            viewer_errors[error] = viewer_errors.get(error, 0) + n
    return {
        "viewer_sessions": total["viewers"]["sessions"],
        "failed_viewer_sessions": total["viewers"]["outcomes"].get("failed", 0),
        "failed_viewer_requests": total["viewers"]["failed_requests"],
        "viewer_request_errors": viewer_errors,
        "resent_after_keepalive_close": report.get("resent_after_keepalive_close", 0),
        "viewer_outcomes": total["viewers"]["outcomes"],
        "uploads_started": total["uploads"]["started"],
        "uploads_acknowledged": total["uploads"]["acknowledged"],
        "failed_uploads": len(report["failed_uploads"]),
        "unfinished_uploads": len(report["unfinished_uploads"]),
        "upload_interruptions": total["uploads"]["interruptions"],
        "api_requests": total["api"]["requests"],
        "errors_by_status": total["errors_by_status"],
        "server_errors": sum(server_errors.values()),
        "rebuffer_ratio": total["viewers"]["rebuffer_ratio"],
    }


def wait_ready(edge_url: str, token: str, video_ids: list[str], timeout_s: float) -> list[str]:
    """The videos among ``video_ids`` not ``ready`` within ``timeout_s`` (asked through the
    edge, as a user would)."""
    pending = set(video_ids)
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=edge_url, headers=headers, timeout=10) as http:
        while pending and time.monotonic() < deadline:
            for vid in sorted(pending):
                try:
                    r = http.get(f"/api/v1/videos/{vid}")
                except httpx.HTTPError:
                    continue
                if r.status_code == 200 and r.json()["status"] in ("ready", "failed"):
                    pending.discard(vid)
            time.sleep(1)
    return sorted(pending)


async def jobs_of(database_url: str, video_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per video: its status, published rev, and its jobs as ``(kind, state, attempts)``."""
    if not video_ids:
        return {}
    engine = create_async_engine(normalize_url(database_url))
    out: dict[str, dict[str, Any]] = {}
    try:
        async with engine.connect() as conn:
            videos = await conn.execute(
                sa.text("SELECT id, status, published_rev FROM videos WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": video_ids},
            )
            for vid, status, rev in videos:
                out[vid] = {"status": status, "published_rev": rev, "jobs": []}
            jobs = await conn.execute(
                sa.text(
                    "SELECT video_id, kind, state, attempts FROM jobs WHERE video_id IN :ids"
                    " ORDER BY id"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": video_ids},
            )
            for vid, kind, state, attempts in jobs:
                out[vid]["jobs"].append((kind, state, attempts))
    finally:
        await engine.dispose()
    return out


def job_verdict(videos: dict[str, dict[str, Any]], video_ids: list[str]) -> dict[str, Any]:
    """Lost (no row, or not ready), failed jobs, and videos whose transcode ran to success
    other than exactly once; attempts above 1 are jobs handed back and run again."""
    lost = [v for v in video_ids if v not in videos]
    not_ready = [v for v, info in videos.items() if info["status"] != "ready"]
    failed = [v for v, info in videos.items() if any(j[1] == "failed" for j in info["jobs"])]
    not_once = [
        v
        for v, info in videos.items()
        if sum(1 for k, s, _ in info["jobs"] if k == "transcode" and s == "succeeded") != 1
    ]
    retried = sum(1 for info in videos.values() for _, _, a in info["jobs"] if a > 1)
    return {
        "videos_checked": len(video_ids),
        "lost": lost,
        "not_ready": not_ready,
        "failed_jobs": failed,
        "transcode_not_exactly_once": not_once,
        "jobs_run_again_after_hand_back": retried,
    }


async def running_jobs(database_url: str, worker_pid: int) -> int:
    """Jobs running under a lease of the worker process ``worker_pid`` (a lease owner is
    ``host:pid:slot``)."""
    engine = create_async_engine(normalize_url(database_url))
    try:
        async with engine.connect() as conn:
            row = await conn.execute(
                sa.text(
                    "SELECT count(*) FROM jobs WHERE state = 'running' AND lease_owner LIKE :owner"
                ),
                {"owner": f"%:{worker_pid}:%"},
            )
            return int(row.scalar_one())
    finally:
        await engine.dispose()
