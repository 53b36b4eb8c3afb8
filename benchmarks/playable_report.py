"""The time-to-playable benchmark's arithmetic (benchmarks/time_to_playable.py): where the time
from upload complete to playable goes, read from a video's timeline; Mux's published median for
a source's length; the markdown report. Pure functions of values, so tests can check them
without a server (tests/benchmarks/test_time_to_playable.py)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import server_time

# Mux's published medians of the time from upload complete to playable, by the video's length
# (the anchor): (longest length in the bucket, the bucket's name, median seconds).
MUX_MEDIANS: tuple[tuple[float, str, float], ...] = (
    (60.0, "videos < 1 min", 2.0),
    (300.0, "videos 1-5 min", 3.3),
    (1200.0, "videos 5-20 min", 9.0),
)
PLAYABLE_GOAL_S = 3.0  # the goal, for any length
READY_GOAL_RATIO = 1.05  # the full ladder on one worker vs the bare single-ffmpeg ladder


def mux_bucket(seconds: float) -> tuple[str, float] | None:
    """Mux's bucket for a source of ``seconds`` (its name, its median), None above 20 min. A
    bucket's border belongs to it (the nominal 60 s source is compared with "< 1 min": the
    generated clip is one minute long, not more)."""
    for longest, name, median in MUX_MEDIANS:
        if seconds <= longest:
            return name, median
    return None


class TimelineError(ValueError):
    """The timeline lacks a stage (or a timestamp) the benchmark reads."""


@dataclass(frozen=True)
class RunTimes:
    """One run, in seconds after the upload completed (the server's clock)."""

    playable_s: float  # the ``playable`` stage's finished_at
    ready_s: float  # the ``publish`` stage's finished_at
    parts: dict[str, float]  # where ``playable_s`` goes; the parts add up to it
    publish_tx_s: float | None  # the publish transaction after the playable stamp, if known


def _stage(stages: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    for stage in stages:
        if stage["name"] == name and stage.get("rendition") is None:
            return stage
    raise TimelineError(f"the timeline has no {name!r} stage")


def _at(stage: dict[str, Any], when: str) -> float:
    text = stage.get(when)
    if text is None:
        raise TimelineError(f"the {stage['name']!r} stage has no {when} ({stage.get('state')})")
    return server_time(text)


def run_times(timeline: dict[str, Any], published_at: str | None = None) -> RunTimes:
    """Read one run from the video's timeline (``GET /api/v1/videos/{id}/timeline`` once the
    video is ready). ``published_at`` is the video's ``updated_at`` as first seen playable while
    still processing: the row write of the playable publish, which follows the stage's stamp."""
    stages = timeline["stages"]
    upload, probe = _stage(stages, "upload"), _stage(stages, "probe")
    playable, publish = _stage(stages, "playable"), _stage(stages, "publish")
    if playable["state"] != "done":
        raise TimelineError(f"the video never became playable early ({playable['state']})")
    t0 = _at(upload, "finished_at")
    became = _at(playable, "finished_at")
    parts = {
        "queue + claim": _at(probe, "started_at") - t0,
        "fetch + probe": _at(probe, "finished_at") - _at(probe, "started_at"),
        "plan + start the encodes": _at(playable, "started_at") - _at(probe, "finished_at"),
        "first segments of the lead (encode + store)": became - _at(playable, "started_at"),
    }
    tx = None if published_at is None else server_time(published_at) - became
    return RunTimes(became - t0, _at(publish, "finished_at") - t0, parts, tx)


@dataclass(frozen=True)
class Verified:
    """What the benchmark client fetched as soon as the API said playable (all 200)."""

    status: str  # the video's status then ("processing": playable while it is processed)
    playlists: int  # media playlists the master names
    growing: int  # of them, EVENT playlists without ENDLIST (still being produced)
    segments: int  # init + first segments fetched
    client_s: float  # from the poll that saw playable to the last fetch


@dataclass
class Report:
    seconds: float
    width: int
    height: int
    runs: int
    cpus: str | None
    rungs: list[str]
    preset: str
    machine: str
    date: str
    anchor: list[float] = field(default_factory=list)
    times: list[RunTimes] = field(default_factory=list)
    verified: list[Verified] = field(default_factory=list)

    def command(self) -> str:
        pin = f" --cpus {self.cpus}" if self.cpus else ""
        return (
            f".venv/bin/python benchmarks/time_to_playable.py --seconds {self.seconds:g} "
            f"--height {self.height} --runs {self.runs}{pin}"
        )


def _runs(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def markdown(report: Report) -> str:
    """The section appended to docs/benchmarks.md."""
    playable = [t.playable_s for t in report.times]
    ready = [t.ready_s for t in report.times]
    p, r, a = (statistics.median(x) for x in (playable, ready, report.anchor))
    bucket = mux_bucket(report.seconds)
    mux = (
        f"| Mux, published median ({bucket[0]}) | {bucket[1]:.1f} | |\n"
        if bucket
        else "| Mux, published median | none above 20 min | |\n"
    )
    pinned = f" Server and anchor pinned to CPUs {report.cpus} (taskset)." if report.cpus else ""
    lines = [
        f"\n## Time to playable and to ready vs Mux and the bare ffmpeg ladder ({report.date})\n",
        f"Command: `{report.command()}`\n",
        f"Source: {report.seconds:g} s {report.width}x{report.height} 30 fps H.264 + AAC "
        f"(generated). Ladder: {', '.join(report.rungs)}, preset {report.preset}. "
        f"{report.machine}{pinned}\n",
        "From upload complete (the upload stage's `finished_at`) to playable (the `playable` "
        "stage's `finished_at`: the lead's first segments are stored and the rev is published "
        "while the rest is encoded) and to ready (the `publish` stage's `finished_at`), on the "
        "server's clock; one `reelstream serve` with its embedded worker.\n",
        "| | median (s) | runs (s) |\n|---|---|---|\n"
        f"| **reelstream upload complete -> playable** | **{p:.2f}** | {_runs(playable)} |\n"
        + mux
        + f"| goal | ≤ {PLAYABLE_GOAL_S:.1f} | |\n"
        f"| reelstream upload complete -> ready | {r:.2f} | {_runs(ready)} |\n"
        f"| bare ffmpeg ladder (anchor) | {a:.2f} | {_runs(report.anchor)} |\n"
        f"| **ratio ready / anchor** (goal ≤ {READY_GOAL_RATIO:.2f}) | **{r / a:.2f}** | |\n",
        "Where the time to playable goes (from the timeline's stages; medians):\n",
        "| part | s |\n|---|---|\n"
        + "".join(
            f"| {name} | {statistics.median(t.parts[name] for t in report.times):.2f} |\n"
            for name in report.times[0].parts
        )
        + _publish_row(report.times),
    ]
    lines.append(_verified_line(report.verified))
    return "\n".join(lines)


def _publish_row(times: Sequence[RunTimes]) -> str:
    known = [t.publish_tx_s for t in times if t.publish_tx_s is not None]
    if not known:
        return ""
    return (
        f"| then the publish transaction (manifests, the video row; after the stage's stamp, "
        f"not in the figure) | {statistics.median(known):.2f} |\n"
    )


def _verified_line(verified: Sequence[Verified]) -> str:
    if not verified:
        return ""
    while_processing = sum(v.status == "processing" for v in verified)
    return (
        f"Playable was real at that moment in every run: as soon as the API said so, the "
        f"benchmark client fetched the playback URL, the master, its "
        f"{max(v.playlists for v in verified)} media playlists "
        f"({min(v.growing for v in verified)} still growing: EVENT, no ENDLIST) and their init "
        f"and first segments, all 200, in {max(v.client_s for v in verified):.2f} s at most; "
        f"the video was still `processing` in {while_processing} of {len(verified)} runs.\n"
    )
