"""Benchmark: a long video's time to ready with one worker on one CPU against two workers on
one CPU each (chunked encoding, ``reelstream.processing.chunked``), beside the bare ffmpeg
ladder on one CPU.

One invocation, one generated source (``--seconds`` of ``--height``p, default 10 min 720p):

* anchor: the exact single-ffmpeg ladder reelstream would build for the source
  (``bare_ladder_command``), pinned to CPU 0 with ``taskset``; its wall time;
* N = 1: ``reelstream serve`` without embedded workers (the API only, not pinned: it is idle
  while the video encodes) and one ``reelstream worker`` process pinned to CPU 0 (its threads,
  and the ffmpeg processes it starts, which inherit the affinity);
* N = 2: the same with a second worker pinned to CPU 1.

With ``--compare-whole`` both are run again with chunking off (``REELSTREAM_CHUNK_S=0``: the
whole ladder in one job, on one worker whatever N is), to show where chunking starts to pay:
what it costs one worker, what it gains with two. ``--chunk-s`` and ``--chunk-min-s`` set the
chunking for the chunked runs (the defaults are the settings').

Each run uploads the source over tus and polls the video once every 2 s until it is ready; the
time to ready is read from its timeline on the server's clock (the upload stage's
``finished_at`` to the publish stage's). The report gives both times, the speedup N=1 / N=2
(goal ≥ 1.7), the ratio N=1 / anchor (what chunking costs one worker: goal ≤ 1.05), the number of
chunks, and the time to playable of each run.

    .venv/bin/python benchmarks/scaleout.py [--seconds 600] [--height 720] [--runs 1]
        [--chunk-s 60] [--chunk-min-s 180] [--compare-whole] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import run_server, run_worker  # noqa: E402

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
from benchmarks.time_to_playable import pin_tree, run_anchor  # noqa: E402
from reelstream.config import Settings  # noqa: E402

POLL_S = 2.0
WORKER_COUNTS = (1, 2)


def stage_time(stages: list[dict[str, Any]], name: str) -> float:
    found = [s for s in stages if s["name"] == name and s.get("finished_at")]
    if not found:
        raise RuntimeError(f"the timeline has no finished {name} stage")
    return server_time(found[0]["finished_at"])


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunk-s", type=int, default=None, help="REELSTREAM_CHUNK_S")
    parser.add_argument("--chunk-min-s", type=float, default=None, help="REELSTREAM_CHUNK_MIN_S")
    parser.add_argument(
        "--compare-whole", action="store_true", help="also run N=1 and N=2 without chunking"
    )


def run_workers(
    source: Path, workdir: Path, n: int, deadline_s: float, chunking: dict[str, object]
) -> dict[str, Any]:
    """One run with ``n`` workers, worker i pinned to CPU i."""
    deadline = time.monotonic() + deadline_s
    env = {"log_level": "WARNING", **chunking}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(run_server(workdir, embedded_workers=False, **env))
        for cpu in range(n):
            proc = stack.enter_context(run_worker(workdir, **env))
            time.sleep(0.5)  # let it start its threads before pinning them all
            pin_tree(proc.pid, str(cpu))
        video_id = tus_upload(server.base_url, server.headers, source)
        with httpx.Client(timeout=30, headers=server.headers) as client:
            while time.monotonic() < deadline:
                time.sleep(POLL_S)
                video = client.get(f"{server.base_url}/api/v1/videos/{video_id}").json()
                if video["status"] == "ready":
                    break
                if video["status"] == "failed":
                    raise RuntimeError(f"transcode failed: {video['error']}\n{server.log()}")
            else:
                raise RuntimeError(f"not ready in time\n{server.log()}")
            timeline = client.get(f"{server.base_url}/api/v1/videos/{video_id}/timeline")
            timeline.raise_for_status()
    stages: list[dict[str, Any]] = timeline.json()["stages"]
    uploaded = stage_time(stages, "upload")
    chunks = [s for s in stages if s["name"] == "chunk"]
    return {
        "ready_s": stage_time(stages, "publish") - uploaded,
        "playable_s": stage_time(stages, "playable") - uploaded,
        "chunks": len(chunks),
        "chunks_done": sum(1 for s in chunks if s["state"] == "done"),
    }


def report(
    args: Any,
    anchor: list[float],
    runs: dict[int, list[dict[str, Any]]],
    whole: dict[int, list[dict[str, Any]]],
) -> str:
    ready = {n: statistics.median(r["ready_s"] for r in runs[n]) for n in runs}
    playable = {n: statistics.median(r["playable_s"] for r in runs[n]) for n in runs}
    bare = statistics.median(anchor)
    chunks = runs[1][0]["chunks"]
    flags = "".join(
        f" --{name.replace('_', '-')} {value:g}"
        for name, value in (("chunk_s", args.chunk_s), ("chunk_min_s", args.chunk_min_s))
        if value is not None
    ) + (" --compare-whole" if args.compare_whole else "")
    lines = [
        f"\n## Scale-out: one worker vs two, one CPU each ({dt.date.today()})\n",
        f"Command: `.venv/bin/python benchmarks/scaleout.py --seconds {args.seconds:g} "
        f"--height {args.height} --runs {args.runs}{flags}`\n",
        f"Source: {args.seconds:g} s {width_of(args)}x{args.height} 30 fps H.264 + AAC "
        f"(generated), encoded in {chunks} chunks (+ the lead: lowest rung, audio, "
        f"storyboard). {machine()}\n",
        "| | median (s) | runs (s) |",
        "|---|---|---|",
        f"| bare ffmpeg ladder, taskset CPU 0 (anchor) | {bare:.1f} | "
        f"{', '.join(f'{x:.1f}' for x in anchor)} |",
    ]
    for n in sorted(runs):
        values = ", ".join(f"{r['ready_s']:.1f}" for r in runs[n])
        lines.append(f"| reelstream N={n}: upload complete -> ready | {ready[n]:.1f} | {values} |")
    for n in sorted(runs):
        values = ", ".join(f"{r['playable_s']:.2f}" for r in runs[n])
        lines.append(
            f"| reelstream N={n}: upload complete -> playable | {playable[n]:.2f} | {values} |"
        )
    lines += [
        f"| **speedup N=1 / N=2** | **{ready[1] / ready[2]:.2f}** | goal ≥ 1.7 |",
        f"| **ratio N=1 / anchor** | **{ready[1] / bare:.2f}** | goal ≤ 1.05 |",
    ]
    if whole:
        flat = {n: statistics.median(r["ready_s"] for r in whole[n]) for n in whole}
        for n in sorted(whole):
            values = ", ".join(f"{r['ready_s']:.1f}" for r in whole[n])
            lines.append(
                f"| not chunked, N={n}: upload complete -> ready | {flat[n]:.1f} | {values} |"
            )
        lines += [
            f"| chunked / not chunked, N=1 (what chunking costs one worker) | "
            f"{ready[1] / flat[1]:.2f} | |",
            f"| chunked / not chunked, N=2 (what it gains with two) | {ready[2] / flat[2]:.2f} | |",
        ]
    return "\n".join(lines) + "\n\n"


def main() -> None:
    args = parse_args(__doc__ or "", add_options)
    settings = Settings(_env_file=None)
    deadline_s = 600 + 20 * args.seconds
    chunking: dict[str, object] = {}
    if args.chunk_s is not None:
        chunking["chunk_s"] = args.chunk_s
    if args.chunk_min_s is not None:
        chunking["chunk_min_s"] = args.chunk_min_s
    anchor: list[float] = []
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in WORKER_COUNTS}
    whole: dict[int, list[dict[str, Any]]] = (
        {n: [] for n in WORKER_COUNTS} if args.compare_whole else {}
    )
    with tempfile.TemporaryDirectory(prefix="reelstream-scaleout-") as tmp:
        tmpdir = Path(tmp)
        source = make_source(tmpdir, args)
        for i in range(args.runs):
            anchor.append(run_anchor(source, settings, "0"))
            print(f"run {i + 1}: anchor {anchor[-1]:.1f} s", flush=True)
            for n in WORKER_COUNTS:
                result = run_workers(source, tmpdir / f"run{i}-n{n}", n, deadline_s, chunking)
                runs[n].append(result)
                print(f"run {i + 1}: N={n} {result}", flush=True)
            for n in whole:
                flat = run_workers(source, tmpdir / f"run{i}-w{n}", n, deadline_s, {"chunk_s": 0})
                whole[n].append(flat)
                print(f"run {i + 1}: not chunked, N={n} {flat}", flush=True)
    publish(report(args, anchor, runs, whole), args)
    if not args.no_write:
        record_figures(args, runs)


def record_figures(args: Any, runs: dict[int, list[dict[str, Any]]]) -> None:
    """N=1's time to ready (one CPU) and the speedup in src/reelstream/capacity/measured.json."""
    ready = {n: statistics.median(r["ready_s"] for r in runs[n]) for n in runs}
    text = report(args, [1.0], runs, {})
    command = text.split("Command: `", 1)[1].split("`", 1)[0]
    date = str(dt.date.today())
    section = f"Scale-out: one worker vs two, one CPU each ({date})"
    run = Run("docs/benchmarks.md", section, command, short_machine(machine()), date)
    shape = {"video_s": args.seconds, "height": args.height}
    tag = f"{args.seconds:g}s_{args.height}p"
    record(
        run,
        [
            Measurement(
                f"scaleout_n1_ready_s_{tag}",
                round(ready[1], 1),
                "s",
                "reelstream N=1: upload complete -> ready",
                1,
                extra=shape,
            ),
            Measurement(
                f"scaleout_speedup_{tag}",
                round(ready[1] / ready[2], 2),
                "x",
                "speedup N=1 / N=2",
                2,
                extra=shape,
            ),
        ],
    )


if __name__ == "__main__":
    main()
