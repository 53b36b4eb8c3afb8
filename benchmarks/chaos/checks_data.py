"""The checks over what the cluster stored: acknowledged sources, readiness, published once.

Each function takes what was read (``benchmarks.chaos.stored``: database rows, the object
store) and the load report's ``acknowledged_sources`` (what the clients sent), and returns one
``Check`` whose problems name the video at fault.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchmarks.chaos.stored import DbState, ObjectReader
from benchmarks.chaos.verdict import Check

READY_EVENT = "video.ready"
TRANSCODE = "transcode"  # reelstream.queue.kinds: the job that publishes a video's first rev


def source_key(video_id: str) -> str:
    return f"videos/{video_id}/source"


def rev_prefix(video_id: str, rev: str) -> str:
    return f"videos/{video_id}/r/{rev}/"


def check_sources(sources: list[dict[str, Any]], db: DbState, store: ObjectReader) -> Check:
    """Every acknowledged upload exists, handed off, with its source byte-identical."""
    problems: list[str] = []
    identical = 0
    for sent in sources:
        vid = str(sent["video_id"])
        row = db.videos.get(vid)
        if row is None:
            problems.append(f"video {vid}: acknowledged but not in the database")
            continue
        if row.status == "uploading":
            problems.append(f"video {vid}: acknowledged but still 'uploading' (never handed off)")
        stored = store.digest(source_key(vid))
        if stored is None:
            problems.append(f"video {vid}: {source_key(vid)} is missing from the object store")
            continue
        size, sha = stored
        if (size, sha) != (int(sent["size"]), str(sent["sha256"])):
            problems.append(
                f"video {vid}: stored source is {size} B sha256 {sha[:16]}, the client sent "
                f"{sent['size']} B sha256 {str(sent['sha256'])[:16]}"
            )
            continue
        identical += 1
    counts = {"acknowledged": len(sources), "identical": identical, "bad": len(problems)}
    summary = f"{identical} of {len(sources)} acknowledged sources stored byte for byte"
    return Check.of("sources", summary, counts, problems)


def check_ready(
    sources: list[dict[str, Any]],
    api: dict[str, tuple[int, str | None, str | None]],
    db: DbState,
    waited_s: float,
) -> Check:
    """Every acknowledged video is ``ready`` in the API (``api``: id -> HTTP status, video
    status, error, as last polled through the edge) and in the database."""
    problems: list[str] = []
    ready = 0
    for sent in sources:
        vid = str(sent["video_id"])
        http, status, error = api.get(vid, (0, None, None))
        row = db.videos.get(vid)
        if http != 200 or status != "ready":
            why = f"HTTP {http}" if http != 200 else f"status {status!r}"
            problems.append(f"video {vid}: not ready after {waited_s:.0f} s ({why}, {error})")
        elif row is None or row.status != "ready" or not row.published_rev:
            state = "no row" if row is None else f"{row.status!r}, rev {row.published_rev}"
            problems.append(f"video {vid}: the API says ready, the database {state}")
        else:
            ready += 1
    counts = {"acknowledged": len(sources), "ready": ready, "waited_s": round(waited_s, 1)}
    summary = f"{ready} of {len(sources)} acknowledged videos ready"
    return Check.of("ready", summary, counts, problems)


def ready_ids_in_log(deliveries: list[dict[str, Any]]) -> dict[str, set[str]]:
    """video id -> the distinct ``video.ready`` event ids delivered for it."""
    out: dict[str, set[str]] = defaultdict(set)
    for d in deliveries:
        body = d.get("body")
        if not isinstance(body, dict) or body.get("type") != READY_EVENT:
            continue
        video = (body.get("data") or {}).get("video") or {}
        event_id = d.get("headers", {}).get("webhook-id") or body.get("id")
        out[str(video.get("id"))].add(str(event_id))
    return out


def check_published_once(
    sources: list[dict[str, Any]],
    db: DbState,
    store: ObjectReader,
    deliveries: list[dict[str, Any]] | None,
) -> Check:
    """Each ready acknowledged video was published exactly once: one published rev whose
    master is stored, one succeeded transcode job, one ``video.ready`` event in the outbox
    and, with a webhook log, one distinct event id delivered (however often)."""
    problems: list[str] = []
    logged = ready_ids_in_log(deliveries) if deliveries is not None else {}
    db_events: dict[str, list[str]] = defaultdict(list)
    for event_id, kind, vid in db.events:
        if kind == READY_EVENT:
            db_events[vid].append(event_id)
    once = checked = 0
    for sent in sources:
        vid = str(sent["video_id"])
        row = db.videos.get(vid)
        if row is None or row.status != "ready":
            continue  # the ready check names it
        checked += 1
        before = len(problems)
        rev = row.published_rev
        if not rev:
            problems.append(f"video {vid}: ready without a published rev")
        elif not store.objects(rev_prefix(vid, rev) + "master.m3u8"):
            problems.append(f"video {vid}: published rev {rev} has no stored master playlist")
        done = [j for j in db.jobs_of(vid) if j.kind == TRANSCODE and j.state == "succeeded"]
        if len(done) != 1:
            revs = ", ".join(f"job {j.id} rev {j.lease_rev}" for j in done)
            problems.append(f"video {vid}: {len(done)} transcode jobs completed ({revs})")
        events = db_events.get(vid, [])
        if len(events) > 1:
            problems.append(f"video {vid}: {len(events)} video.ready events ({', '.join(events)})")
        if deliveries is not None:
            ids = logged.get(vid, set())
            if len(ids) != 1:
                problems.append(
                    f"video {vid}: {len(ids)} distinct video.ready event ids delivered "
                    f"({', '.join(sorted(ids)) or 'none'})"
                )
            elif events and ids != set(events[:1]):
                problems.append(f"video {vid}: delivered {ids.pop()}, the outbox has {events[0]}")
        once += len(problems) == before
    unsigned = 0
    for d in deliveries or []:
        if d.get("signature_ok") is False:
            unsigned += 1
            problems.append(f"delivery {d.get('headers', {}).get('webhook-id')}: bad signature")
    repeats = 0
    if deliveries is not None:
        seen: dict[str, int] = defaultdict(int)
        for d in deliveries:
            seen[str(d.get("headers", {}).get("webhook-id"))] += 1
        repeats = sum(n - 1 for n in seen.values())
    counts = {
        "ready": checked,
        "published_once": once,
        "deliveries": len(deliveries or []),
        "redelivered": repeats,  # the same event id again: allowed (at-least-once delivery)
        "bad_signatures": unsigned,
    }
    summary = f"{once} of {checked} ready videos published exactly once"
    return Check.of("published_once", summary, counts, problems)
