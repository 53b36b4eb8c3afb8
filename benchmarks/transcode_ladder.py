"""Benchmark: reelstream's upload-complete -> ready time against the bare ffmpeg ladder.

Both sides run in the same invocation on the same machine and the same generated source:

* anchor: the exact ffmpeg command reelstream builds for that source (one process, every rung),
  run bare into a temp folder;
* reelstream: a real ``reelstream serve`` process with its embedded worker, from the moment the
  last tus PATCH is acknowledged to the moment the video is published. Both instants are read
  from the video's timeline (the server's clock: the upload stage's and the publish stage's
  ``finished_at``), so the benchmark can poll gently (once a second): polling the API fast, on a
  machine whose cores ffmpeg keeps busy, would slow down what it measures.

The ratio reelstream / anchor is the overhead of the platform (probe, queue, packaging, poster,
storage, publish). Where that overhead goes is read from the video's timeline
(``GET /api/v1/videos/{id}/timeline``: when each stage started and finished) and printed as a
breakdown. Results are appended to docs/benchmarks.md unless --no-write is given.

    .venv/bin/python benchmarks/transcode_ladder.py [--seconds 60] [--height 1080] [--runs 1]
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import run_server  # noqa: E402

from benchmarks.common import (  # noqa: E402
    machine,
    make_source,
    parse_args,
    publish,
    server_time,
    tus_upload,
    width_of,
)
from benchmarks.measured_record import Measurement, Run, record, short_machine  # noqa: E402
from reelstream.config import Settings  # noqa: E402
from reelstream.media.ffmpeg import bare_ladder_command  # noqa: E402
from reelstream.processing.options import ffmpeg_options  # noqa: E402


def run_anchor(source: Path, settings: Settings) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-anchor-") as out:
        argv = bare_ladder_command(source, Path(out), ffmpeg_options(settings))
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


POLL_S = 1.0


def breakdown(timeline: dict[str, Any]) -> dict[str, float]:
    """Seconds spent between the stages' timestamps, from upload complete to published."""
    stages = {(s["name"], s["rendition"]): s for s in timeline["stages"]}
    encodes = [s for s in timeline["stages"] if s["name"] == "encode"]

    def at(name: str, when: str) -> float:
        return server_time(stages[(name, None)][when])

    encode_start = min(server_time(s["started_at"]) for s in encodes)
    encode_end = max(server_time(s["finished_at"]) for s in encodes)
    return {
        "queue + claim": at("probe", "started_at") - at("upload", "finished_at"),
        "fetch + probe": at("probe", "finished_at") - at("probe", "started_at"),
        "plan": encode_start - at("probe", "finished_at"),
        "encode (ffmpeg ladder)": encode_end - encode_start,
        "storyboard sheets": at("package", "started_at") - encode_end,
        "package + store": at("package", "finished_at") - at("package", "started_at"),
        "publish": at("publish", "finished_at") - at("package", "finished_at"),
    }


def run_reelstream(source: Path, workdir: Path) -> tuple[float, dict[str, float]]:
    with run_server(workdir, log_level="WARNING") as server:
        base = server.base_url
        video_id = tus_upload(base, server.headers, source)
        with httpx.Client(timeout=120, headers=server.headers) as client:
            while True:
                time.sleep(POLL_S)
                video = client.get(f"{base}/api/v1/videos/{video_id}").json()
                if video["status"] == "ready":
                    timeline = client.get(f"{base}/api/v1/videos/{video_id}/timeline").json()
                    split = breakdown(timeline)
                    return sum(split.values()), split
                if video["status"] == "failed":
                    raise RuntimeError(f"transcode failed: {video['error']}")


def main() -> None:
    args = parse_args(__doc__ or "")
    width = width_of(args)
    settings = Settings(_env_file=None)

    with tempfile.TemporaryDirectory(prefix="reelstream-bench-") as tmp:
        tmpdir = Path(tmp)
        source = make_source(tmpdir, args)
        anchor, platform_times = [], []
        parts: dict[str, list[float]] = {}
        for n in range(args.runs):
            anchor.append(run_anchor(source, settings))
            took, split = run_reelstream(source, tmpdir / f"run{n}")
            platform_times.append(took)
            for name, seconds in split.items():
                parts.setdefault(name, []).append(seconds)
            print(f"run {n + 1}: anchor {anchor[-1]:.2f} s, reelstream {took:.2f} s")
            print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in split.items()))
    a, r = statistics.median(anchor), statistics.median(platform_times)
    rungs = [r_.height for r_ in settings.ladder if r_.height <= args.height]
    section = f"Transcode: upload complete -> ready vs bare ffmpeg ladder ({dt.date.today()})"
    command = (
        f".venv/bin/python benchmarks/transcode_ladder.py --seconds {args.seconds:g} "
        f"--height {args.height} --runs {args.runs}"
    )
    report = (
        f"\n## {section}\n\n"
        f"Command: `{command}`\n\n"
        f"Source: {args.seconds:g} s {width}x{args.height} 30 fps H.264 + AAC (generated). "
        f"Ladder: {', '.join(f'{h}p' for h in rungs)}, preset {settings.x264_preset}. "
        f"{machine()}\n\n"
        "| | median wall time (s) | runs (s) |\n|---|---|---|\n"
        f"| bare ffmpeg ladder (anchor) | {a:.2f} | {', '.join(f'{x:.2f}' for x in anchor)} |\n"
        f"| reelstream upload complete -> ready | {r:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in platform_times)} |\n"
        f"| **ratio reelstream / anchor** | **{r / a:.2f}** | |\n"
        "\nWhere reelstream's time goes (from the video's timeline; medians):\n\n"
        "| stage | s |\n|---|---|\n"
        + "".join(f"| {k} | {statistics.median(v):.2f} |\n" for k, v in parts.items())
    )
    publish(report, args)
    if not args.no_write:
        run = Run(
            "docs/benchmarks.md", section, command, short_machine(machine()), str(dt.date.today())
        )
        shape = {"video_s": args.seconds, "height": args.height}
        name = f"transcode_ladder_ready_s_{args.seconds:g}s_{args.height}p"
        row = "reelstream upload complete -> ready"
        record(run, [Measurement(name, round(r, 2), "s", row, os.cpu_count() or 1, extra=shape)])


if __name__ == "__main__":
    main()
