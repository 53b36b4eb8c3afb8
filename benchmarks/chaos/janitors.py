"""What the janitors must have cleaned up, told apart from what they keep on purpose.

Read from reelstream's own rules (docs/architecture.md, ``processing/cleanup.py``,
``ingest/staging/``, ``worker.py``):

* **Revs** (``videos/{id}/r/{rev}/``). Kept: the published rev; the rev of a running attempt
  (its ``lease_rev``); a retired rev with a pending ``cleanup`` job (it stays for the longest
  playback token's lifetime, ``playback_ttl_s``). Anything else is an orphan: an attempt that
  failed, expired or stepped aside deletes its folder, and a publish deletes the other revs.
  Any object of a video with no row is an orphan too.
* **Staging**. An unfinished upload keeps its staging (S3 tails ``uploads/{upload}/...``, the
  multipart upload into ``videos/{id}/source``, or a local ``{upload}``/``{upload}.chunk`` file)
  until it expires (``upload_expiry_s`` after its last write); the janitor (every 300 s) then
  removes it. Staging with no upload row is swept once older than ``upload_expiry_s``, so a
  younger one is kept by design. A completed upload keeps none.
* **Leases**. A running job or a sending webhook delivery whose lease expired is re-queued by
  the reaper (every ``reaper_interval_s``); one still held past that is stale.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from benchmarks.chaos.stored import DbState, Multipart, ObjectReader, Retention, StoredObject
from benchmarks.chaos.verdict import Check

CLEANUP = "cleanup"
ACTIVE = ("queued", "running")


def _age_s(now: dt.datetime, unix: float) -> float:
    return now.timestamp() - unix


def _revs(db: DbState, objects: list[StoredObject], kept: Counter[str]) -> list[str]:
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for o in objects:
        parts = o.key.split("/")
        vid = parts[1] if len(parts) > 1 else ""
        if vid not in db.videos:
            problems.append(f"object {o.key}: its video {vid} has no row")
        elif len(parts) > 3 and parts[2] == "r":
            seen[(vid, parts[3])] = seen.get((vid, parts[3]), 0) + 1
    for (vid, rev), n in sorted(seen.items()):
        if rev == db.videos[vid].published_rev:
            continue
        jobs = [j for j in db.jobs_of(vid) if j.state in ACTIVE]
        if any(j.state == "running" and j.lease_rev == rev for j in jobs):
            kept["running_attempt_revs"] += 1
        elif any(j.kind == CLEANUP and (j.payload or {}).get("rev") == rev for j in jobs):
            kept["retired_revs"] += 1  # removed by its cleanup job after the token lifetime
        else:
            problems.append(
                f"orphan rev videos/{vid}/r/{rev}/ ({n} objects; published: "
                f"{db.videos[vid].published_rev})"
            )
    return problems


def _upload_of(name: str) -> str:
    return name.removesuffix(".chunk")


def _staging(
    db: DbState,
    retention: Retention,
    tails: list[StoredObject],
    files: list[tuple[Path, float]],
    multiparts: list[Multipart],
    kept: Counter[str],
) -> list[str]:
    problems: list[str] = []
    now = db.now
    rowless_s = retention.upload_expiry_s + retention.upload_sweep_s
    overdue = dt.timedelta(seconds=retention.upload_sweep_s)

    def judge(what: str, upload_id: str, age_s: float) -> None:
        row = db.uploads.get(upload_id)
        if row is None:
            if age_s < rowless_s:
                kept["rowless_staging_young"] += 1  # swept once older than upload_expiry_s
            else:
                problems.append(f"{what}: no upload row, {age_s:.0f} s old")
        elif row.completed_at is not None:
            problems.append(f"{what}: left by completed upload {upload_id}")
        elif row.expires_at + overdue < now:
            problems.append(f"{what}: upload {upload_id} expired at {row.expires_at:%H:%M:%S}")
        else:
            kept["live_upload_staging"] += 1

    for t in tails:
        judge(f"staged object {t.key}", t.key.split("/")[1], _age_s(now, t.mtime))
    for path, mtime in files:
        judge(f"staging file {path}", _upload_of(path.name), _age_s(now, mtime))
    by_multipart = {u.multipart_id: u.id for u in db.uploads.values() if u.multipart_id}
    for m in multiparts:
        what = f"open multipart upload {m.upload_id[:24]} of {m.key}"
        judge(what, by_multipart.get(m.upload_id, "-"), _age_s(now, m.initiated))
    for u in db.uploads.values():
        if u.completed_at is None and u.expires_at + overdue < now:
            problems.append(
                f"upload {u.id} (video {u.video_id}): expired at {u.expires_at:%H:%M:%S}, "
                "not purged"
            )
    return problems


def _leases(db: DbState, retention: Retention) -> list[str]:
    problems: list[str] = []
    limit = db.now - dt.timedelta(seconds=retention.lease_grace_s)
    for j in db.jobs:
        if j.state == "running" and (j.lease_expires_at is None or j.lease_expires_at < limit):
            problems.append(
                f"job {j.id} ({j.kind}, video {j.video_id}): running under a lease of "
                f"{j.lease_owner} that expired at {j.lease_expires_at}"
            )
    for d in db.deliveries:
        if d.state == "sending" and (d.lease_expires_at is None or d.lease_expires_at < limit):
            problems.append(
                f"webhook delivery {d.id} (event {d.event_id}): sending under a lease that "
                f"expired at {d.lease_expires_at}"
            )
    return problems


def check_janitors(
    db: DbState,
    store: ObjectReader,
    staging_files: list[tuple[Path, float]],
    retention: Retention,
) -> Check:
    """No orphan revs or objects, no staging left behind, no stale leases."""
    kept: Counter[str] = Counter()
    videos = store.objects("videos/")
    revs = _revs(db, videos, kept)
    tails = store.objects("uploads/")
    staging = _staging(db, retention, tails, staging_files, store.multiparts(), kept)
    leases = _leases(db, retention)
    counts = {
        "objects": len(videos),
        "orphans": len(revs),
        "staging_left": len(staging),
        "stale_leases": len(leases),
        "kept_by_design": dict(sorted(kept.items())),
    }
    problems = revs + staging + leases
    summary = "no orphan revs, staging or stale leases" if not problems else "left behind"
    return Check.of("janitors", summary, counts, problems)
