"""The time-to-playable benchmark's arithmetic (benchmarks/playable_report.py) and the pure parts
of its runner (benchmarks/time_to_playable.py): stages read from a fabricated timeline, Mux's
bucket for a length, the report. No server is started and nothing is timed: this keeps the
script from rotting in CI; the benchmark itself is run by hand (docs/benchmarks.md)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from typing import Any

import pytest
from benchmarks.playable_report import (
    Report,
    RunTimes,
    TimelineError,
    Verified,
    markdown,
    mux_bucket,
    run_times,
)
from benchmarks.time_to_playable import _cpu_list, pinned, process_tree

pytestmark = pytest.mark.timeout(60)

T0 = dt.datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).isoformat()


def stage(
    name: str, started: float | None, finished: float | None, *, rendition: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "rendition": rendition,
        "state": "done" if finished is not None else "running",
        "started_at": None if started is None else at(started),
        "finished_at": None if finished is None else at(finished),
    }


def timeline(**override: dict[str, Any]) -> dict[str, Any]:
    """Upload complete at 0; claimed at 0.3; probed by 0.5; the encodes start at 0.6; playable
    at 2.1; every rung encoded by 80; published at 84."""
    stages = {
        "upload": stage("upload", -10, 0),
        "probe": stage("probe", 0.3, 0.5),
        "playable": stage("playable", 0.6, 2.1),
        "v240": stage("encode", 0.6, 40, rendition="v240"),
        "v1080": stage("encode", 0.6, 80, rendition="v1080"),
        "package": stage("package", 80, 83),
        "publish": stage("publish", None, 84),
    }
    stages.update(override)
    return {"stages": list(stages.values())}


def test_the_parts_of_the_time_to_playable_add_up_to_it() -> None:
    times = run_times(timeline(), published_at=at(2.15))
    assert times.playable_s == pytest.approx(2.1)
    assert times.ready_s == pytest.approx(84)
    assert times.parts == pytest.approx(
        {
            "queue + claim": 0.3,
            "fetch + probe": 0.2,
            "plan + start the encodes": 0.1,
            "first segments of the lead (encode + store)": 1.5,
        }
    )
    assert sum(times.parts.values()) == pytest.approx(times.playable_s)
    assert times.publish_tx_s == pytest.approx(0.05, abs=1e-4)


def test_the_publish_transaction_is_unknown_without_the_row_write() -> None:
    assert run_times(timeline()).publish_tx_s is None


def test_a_video_that_never_became_playable_early_is_refused() -> None:
    skipped = {**stage("playable", 0.6, None), "state": "skipped"}
    with pytest.raises(TimelineError, match="never became playable"):
        run_times(timeline(playable=skipped))


def test_a_timeline_without_the_playable_stage_is_refused() -> None:
    stages = [s for s in timeline()["stages"] if s["name"] != "playable"]
    with pytest.raises(TimelineError, match="no 'playable' stage"):
        run_times({"stages": stages})


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (10, ("videos < 1 min", 2.0)),
        (60, ("videos < 1 min", 2.0)),
        (61, ("videos 1-5 min", 3.3)),
        (300, ("videos 1-5 min", 3.3)),
        (600, ("videos 5-20 min", 9.0)),
        (1200, ("videos 5-20 min", 9.0)),
        (3600, None),
    ],
)
def test_muxs_median_for_the_sources_length(
    seconds: float, bucket: tuple[str, float] | None
) -> None:
    assert mux_bucket(seconds) == bucket


def _report(seconds: float = 600, cpus: str | None = None) -> Report:
    report = Report(
        seconds=seconds,
        width=1280,
        height=720,
        runs=3,
        cpus=cpus,
        rungs=["240p", "720p"],
        preset="veryfast",
        machine="Machine: 2 cores.",
        date="2026-11-30",
        anchor=[100.0, 90.0, 110.0],
    )
    for playable, ready in ((2.0, 95.0), (1.0, 99.0), (3.0, 120.0)):
        lead = "first segments of the lead (encode + store)"
        parts = {"queue + claim": 0.1, lead: playable - 0.1}
        report.times.append(RunTimes(playable, ready, parts, 0.05))
        report.verified.append(Verified("processing", 2, 2, 4, 0.1))
    return report


def test_the_report_has_medians_muxs_bucket_the_ratio_and_the_breakdown() -> None:
    text = markdown(_report())
    assert "`.venv/bin/python benchmarks/time_to_playable.py --seconds 600 --height 720 " in text
    assert "--runs 3`" in text
    assert "| **reelstream upload complete -> playable** | **2.00** | 2.00, 1.00, 3.00 |" in text
    assert "| Mux, published median (videos 5-20 min) | 9.0 |" in text
    assert "| reelstream upload complete -> ready | 99.00 |" in text
    assert "| bare ffmpeg ladder (anchor) | 100.00 |" in text
    assert "| **ratio ready / anchor** (goal ≤ 1.05) | **0.99** |" in text
    assert "| first segments of the lead (encode + store) | 1.90 |" in text
    assert "publish transaction" in text
    assert "2 media playlists (2 still growing" in text
    assert "still `processing` in 3 of 3 runs" in text
    assert "pinned" not in text


def test_the_report_names_the_pinning_and_a_length_mux_does_not_publish() -> None:
    text = markdown(_report(seconds=3600, cpus="0"))
    assert "--runs 3 --cpus 0`" in text
    assert "pinned to CPUs 0 (taskset)" in text
    assert "| Mux, published median | none above 20 min |" in text


def test_pinning_wraps_the_anchor_in_taskset_only_when_asked() -> None:
    assert pinned(["ffmpeg", "-i", "x"], None) == ["ffmpeg", "-i", "x"]
    assert pinned(["ffmpeg"], "0,1") == ["taskset", "-c", "0,1", "ffmpeg"]
    assert _cpu_list("0") == [0]
    assert _cpu_list("0,2-4") == [0, 2, 3, 4]


def test_the_process_tree_holds_the_processes_a_process_started() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tree = process_tree(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert tree[0] == os.getpid()
    assert child.pid in tree
