"""QoE figures over a window, per video and overall, from the stored sessions.

Percentiles need the values, and SQLite has no ``percentile_cont``, so the window's sessions
(their few numeric columns, at most ``MAX_SESSIONS`` of the newest) are read and summed here;
an admin view, not a hot path. Definitions (docs/admin.md, "Viewer experience"):

* sessions: player sessions with a report in the window (updated in it);
* startup p50/p95: over the sessions that started (nearest-rank: a value some session had);
* rebuffer ratio: rebuffer time / watch time (watch time counts playing and stalled time after
  the first frame, not paused time);
* playback failure %: sessions with a fatal error / sessions;
* exits before start %: sessions whose page went away before the first frame / sessions;
* average bitrate and upscaling %: each session's time-weighted average, weighted by its watch
  time (sessions without watch time count once each when nothing was watched).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.base import utcnow
from reelstream.db.models import QoeSession, Video

WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}
MAX_SESSIONS = 200_000
TOP_VIDEOS = 10
MIN_WATCH_S = 60.0  # a video needs this much watch time to rank by rebuffer ratio


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    video_id: str
    started: bool
    exited: bool
    startup_s: float | None
    watch_s: float
    rebuffer_s: float
    rebuffer_count: int
    switches: int
    bitrate_bps: int
    upscale_pct: float
    failed: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Figures:
    sessions: int = 0
    started: int = 0
    startup_p50_s: float | None = None
    startup_p95_s: float | None = None
    watch_s: float = 0.0
    rebuffer_s: float = 0.0
    rebuffer_count: int = 0
    rebuffer_ratio: float | None = None
    failure_pct: float | None = None
    exits_before_start_pct: float | None = None
    avg_bitrate_bps: float | None = None
    upscale_pct: float | None = None
    switches: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class VideoFigures:
    video_id: str
    title: str
    figures: Figures


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    window: str
    since: dt.datetime
    overall: Figures
    video: Figures | None
    top_rebuffering: list[VideoFigures]
    truncated: bool


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _weighted(pairs: list[tuple[float, float]]) -> float | None:
    """The mean of values weighted by watch time, or the plain mean if nothing was watched."""
    if not pairs:
        return None
    total = sum(w for _, w in pairs)
    if total > 0:
        return sum(v * w for v, w in pairs) / total
    return sum(v for v, _ in pairs) / len(pairs)


def figures(rows: Sequence[Row]) -> Figures:
    if not rows:
        return Figures()
    n = len(rows)
    startups = [r.startup_s for r in rows if r.started and r.startup_s is not None]
    watch = sum(r.watch_s for r in rows)
    rebuffer = sum(r.rebuffer_s for r in rows)
    return Figures(
        sessions=n,
        started=sum(r.started for r in rows),
        startup_p50_s=percentile(startups, 50),
        startup_p95_s=percentile(startups, 95),
        watch_s=watch,
        rebuffer_s=rebuffer,
        rebuffer_count=sum(r.rebuffer_count for r in rows),
        rebuffer_ratio=rebuffer / watch if watch > 0 else None,
        failure_pct=100 * sum(r.failed for r in rows) / n,
        exits_before_start_pct=100 * sum(r.exited and not r.started for r in rows) / n,
        avg_bitrate_bps=_weighted([(r.bitrate_bps, r.watch_s) for r in rows if r.bitrate_bps > 0]),
        upscale_pct=_weighted([(r.upscale_pct, r.watch_s) for r in rows if r.started]),
        switches=sum(r.switches for r in rows),
    )


async def summary(
    s: AsyncSession,
    window: str = "24h",
    video_id: str | None = None,
    now: dt.datetime | None = None,
) -> Summary:
    """The figures of ``window`` (a key of ``WINDOWS``) overall, for ``video_id`` if given, and
    the videos with the highest rebuffer ratio (at least ``MIN_WATCH_S`` watched)."""
    since = (now or utcnow()) - dt.timedelta(seconds=WINDOWS[window])
    q = sa.select(
        QoeSession.video_id,
        QoeSession.started,
        QoeSession.exited,
        QoeSession.startup_s,
        QoeSession.watch_s,
        QoeSession.rebuffer_s,
        QoeSession.rebuffer_count,
        QoeSession.switches,
        QoeSession.bitrate_bps,
        QoeSession.upscale_pct,
        QoeSession.error.is_not(None),
    ).where(QoeSession.updated_at >= since)
    q = q.order_by(QoeSession.updated_at.desc()).limit(MAX_SESSIONS + 1)
    rows = [Row(*r) for r in (await s.execute(q)).all()]
    truncated = len(rows) > MAX_SESSIONS
    rows = rows[:MAX_SESSIONS]
    by_video: dict[str, list[Row]] = {}
    for r in rows:
        by_video.setdefault(r.video_id, []).append(r)
    ranked = sorted(
        (
            (vid, f)
            for vid, f in ((vid, figures(rs)) for vid, rs in by_video.items())
            if f.watch_s >= MIN_WATCH_S and f.rebuffer_ratio is not None
        ),
        key=lambda item: (-(item[1].rebuffer_ratio or 0.0), item[0]),
    )[:TOP_VIDEOS]
    titles: dict[str, str] = {}
    if ranked:
        found = await s.execute(
            sa.select(Video.id, Video.title).where(Video.id.in_([vid for vid, _ in ranked]))
        )
        titles = {vid: title for vid, title in found.all()}
    return Summary(
        window=window,
        since=since,
        overall=figures(rows),
        video=figures(by_video.get(video_id, [])) if video_id is not None else None,
        top_rebuffering=[VideoFigures(vid, titles.get(vid, ""), f) for vid, f in ranked],
        truncated=truncated,
    )
