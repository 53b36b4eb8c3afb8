"""The ``reelstream_player_*`` metrics and what one stored change of a session adds to them.

No metric has a per-video label (bounded cardinality: the per-video figures are on the admin
page). The counters move by the difference between a session's stored figures and its merged
ones (``Delta``), computed in the transaction that writes the row (``collector``), so however
often a player repeats its cumulative report, every second and every session counts once:

* ``reelstream_player_sessions_total{outcome}``: a session, once, when its outcome is first
  known (``report.Report.outcome``: played | failed | exited_before_start);
* ``reelstream_player_playback_failures_total``: a session, once, at its first fatal error
  (before or after it started: the playback failure % is this over sessions);
* ``reelstream_player_startup_seconds``: a session's startup time, once;
* ``reelstream_player_watch_seconds_total``, ``..._rebuffer_seconds_total``,
  ``..._rebuffers_total``: by the growth of the cumulative figures;
* ``reelstream_player_bitrate_bps``: a session's average bitrate, observed when it starts and
  once more per full minute of watch time, so the histogram is weighted by watch time (one
  minute granularity) and a short session still shows.
"""

from __future__ import annotations

import dataclasses
import math

from prometheus_client import CollectorRegistry, Counter, Histogram

from reelstream.qoe.report import OUTCOMES, Report

STARTUP_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 10, 15, 30)
BITRATE_BUCKETS = (
    150e3, 300e3, 600e3, 1e6, 1.5e6, 2.5e6, 4e6, 6e6, 8e6, 12e6, 20e6,
)  # fmt: skip
BITRATE_EVERY_S = 60.0


@dataclasses.dataclass(frozen=True, slots=True)
class Delta:
    """What a session's change adds to the metrics."""

    watch_s: float = 0.0
    rebuffer_s: float = 0.0
    rebuffers: int = 0
    startup_s: float | None = None
    outcome: str | None = None
    failed: bool = False
    bitrate_observations: int = 0
    bitrate_bps: int = 0


def bitrate_observations(r: Report | None) -> int:
    if r is None or not r.started or r.bitrate_bps <= 0:
        return 0
    return math.floor(r.watch_s / BITRATE_EVERY_S) + 1


def delta(stored: Report | None, merged: Report) -> Delta:
    """What ``merged`` (the new row) adds over ``stored`` (the row before, None: new)."""
    before = stored or Report()
    return Delta(
        watch_s=max(0.0, merged.watch_s - before.watch_s),
        rebuffer_s=max(0.0, merged.rebuffer_s - before.rebuffer_s),
        rebuffers=max(0, merged.rebuffer_count - before.rebuffer_count),
        startup_s=merged.startup_s if before.startup_s is None else None,
        outcome=merged.outcome if before.outcome is None else None,
        failed=merged.error is not None and before.error is None,
        bitrate_observations=max(0, bitrate_observations(merged) - bitrate_observations(stored)),
        bitrate_bps=merged.bitrate_bps,
    )


class PlayerMetrics:
    """The player's metrics in an app's registry (``observability.metrics.Metrics``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.startup = Histogram(
            "reelstream_player_startup_seconds",
            "player sessions' startup time: play intent to the first frame",
            buckets=STARTUP_BUCKETS,
            registry=r,
        )
        self.rebuffer = Counter(
            "reelstream_player_rebuffer_seconds",
            "time players spent stalled after their first frame (seeks excluded)",
            registry=r,
        )
        self.watch = Counter(
            "reelstream_player_watch_seconds",
            "time players spent playing or stalled after their first frame (not paused)",
            registry=r,
        )
        self.rebuffers = Counter(
            "reelstream_player_rebuffers", "stalls after the first frame (seeks excluded)",
            registry=r,
        )  # fmt: skip
        self.sessions = Counter(
            "reelstream_player_sessions",
            "player sessions by how they began (played, failed, exited_before_start)",
            ["outcome"],
            registry=r,
        )
        for outcome in OUTCOMES:  # every series exists from the start (rates need a zero)
            self.sessions.labels(outcome)
        self.failures = Counter(
            "reelstream_player_playback_failures",
            "player sessions that ended in a fatal error (before or after their first frame)",
            registry=r,
        )
        self.bitrate = Histogram(
            "reelstream_player_bitrate_bps",
            "sessions' time-weighted average bitrate: one observation at the start and one "
            "per further minute watched",
            buckets=BITRATE_BUCKETS,
            registry=r,
        )

    def add(self, d: Delta) -> None:
        if d.watch_s:
            self.watch.inc(d.watch_s)
        if d.rebuffer_s:
            self.rebuffer.inc(d.rebuffer_s)
        if d.rebuffers:
            self.rebuffers.inc(d.rebuffers)
        if d.startup_s is not None:
            self.startup.observe(d.startup_s)
        if d.outcome is not None:
            self.sessions.labels(d.outcome).inc()
        if d.failed:
            self.failures.inc()
        for _ in range(d.bitrate_observations):
            self.bitrate.observe(d.bitrate_bps)
