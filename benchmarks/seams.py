"""Benchmark: the picture quality around chunk seams, chunked encode vs single pass of one rung.

One generated source (``--seconds`` of ``--height``p30, as the other benchmarks), one rung
(``--rung``, default v720) encoded twice with the settings a worker uses (segment 4 s, GOP 2 s,
preset veryfast):

* single pass: ``build_ladder_argv`` for that rung alone (video only);
* chunked: ``plan_chunks(--chunk)``, one ``build_chunk_argv`` per chunk run one after the other,
  ``finish_chunk`` and ``stitch`` into one rendition.

Each rendition is decoded through its media playlist and compared with the source scaled the
same way (ffmpeg's ``psnr`` filter, per frame). Reported: mean PSNR over the whole video and over
the frames within +-1 s of each chunk boundary, for both, and their difference (the goal: the
seams within 0.5 dB of the single pass), the bit rates (a PSNR is only comparable at the same
rate) and the encode times. Appended to docs/benchmarks.md unless --no-write.

    .venv/bin/python benchmarks/seams.py [--seconds 120] [--height 720] [--rung v720] [--chunk 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import FFMPEG  # noqa: E402

from benchmarks.common import machine, make_source, parse_args, publish, width_of  # noqa: E402
from reelstream.config import Settings  # noqa: E402
from reelstream.media.chunks import (  # noqa: E402
    Chunk,
    ChunkResult,
    build_chunk_argv,
    finish_chunk,
    plan_chunks,
    stitch,
)
from reelstream.media.ffmpeg import build_ladder_argv  # noqa: E402
from reelstream.media.ladder import RungPlan, plan_ladder  # noqa: E402
from reelstream.media.options import FFmpegOptions  # noqa: E402
from reelstream.media.probe import MediaInfo, probe_file, sniff_file  # noqa: E402
from reelstream.processing.options import ffmpeg_options  # noqa: E402

SEAM_S = 1.0  # frames within this distance of a chunk boundary are "at the seam"
PSNR_CAP = 100.0  # a frame identical to the source


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rung", default="v720", help="the rung to encode (default v720)")
    parser.add_argument("--chunk", type=float, default=60, help="chunk length, s (default 60)")
    parser.add_argument(
        "--preroll", type=float, default=0, help="also encode chunks with this pre-roll, s"
    )


def run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    return time.perf_counter() - start


def encode_single(opts: FFmpegOptions, source: Path, out: Path, rung: RungPlan) -> float:
    info = probe_file(source, opts.limits)
    container = sniff_file(source, opts.limits)
    argv = build_ladder_argv(
        opts, source, out, container=container, info=info, rungs=[rung], with_audio=False
    )
    return run(argv)


def encode_chunked(
    opts: FFmpegOptions, source: Path, out: Path, rung: RungPlan, chunks: list[Chunk]
) -> float:
    """Every chunk in its own folder, one after the other; then stitched into ``out/rung``."""
    info = probe_file(source, opts.limits)
    container = sniff_file(source, opts.limits)
    results: list[ChunkResult] = []
    seconds = 0.0
    for chunk in chunks:
        folder = out / f"chunk{chunk.index}"
        argv = build_chunk_argv(
            opts, source, folder, container=container, info=info, rungs=[rung], chunk=chunk
        )
        seconds += run(argv)
        results.append(finish_chunk(folder, [rung], chunk))
    final = out / rung.name
    final.mkdir(parents=True)
    for chunk in chunks:
        for path in (out / f"chunk{chunk.index}" / rung.name).iterdir():
            shutil.copy(path, final / path.name)
    text, _ = stitch(rung, [r.rung(rung.name) for r in results])
    (final / "index.m3u8").write_text(text)
    return seconds


def psnr_per_frame(playlist: Path, source: Path, rung: RungPlan, stats: Path) -> list[float]:
    """PSNR (Y/U/V average, dB) of every decoded frame against the source scaled as the
    encoder's input was."""
    ref = f"scale=w={rung.width}:h={rung.height},format=yuv420p,setsar=1"
    if rung.resample_fps:
        ref = f"fps={rung.fps}," + ref
    graph = f"[1:v]{ref}[ref];[0:v]setsar=1[dist];[dist][ref]psnr=stats_file={stats}"
    argv = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(playlist)]
    argv += ["-i", str(source), "-lavfi", graph, "-f", "null", "-"]
    subprocess.run(argv, check=True, timeout=3600)
    values = []
    for line in stats.read_text().splitlines():
        match = re.search(r"psnr_avg:(\S+)", line)
        if match:
            raw = match.group(1)
            values.append(PSNR_CAP if raw == "inf" else min(PSNR_CAP, float(raw)))
    return values


def seam_frames(chunks: list[Chunk], fps: float, count: int) -> list[int]:
    boundaries = [c.start_s for c in chunks[1:]]
    return [n for n in range(count) if any(abs(n / fps - b) <= SEAM_S - 1e-9 for b in boundaries)]


@dataclasses.dataclass
class Measured:
    encode_s: list[float]
    whole_db: float
    seams_db: float
    seams_min_db: float
    kbps: float


def measure(
    playlist: Path, source: Path, rung: RungPlan, chunks: list[Chunk], seconds: list[float]
) -> Measured:
    values = psnr_per_frame(playlist, source, rung, playlist.parent.parent / "psnr.log")
    at_seams = [values[n] for n in seam_frames(chunks, float(rung.fps), len(values))]
    size = sum(p.stat().st_size for p in playlist.parent.glob("seg_*.m4s"))
    duration = len(values) / float(rung.fps)
    return Measured(
        encode_s=seconds,
        whole_db=statistics.fmean(values),
        seams_db=statistics.fmean(at_seams) if at_seams else float("nan"),
        seams_min_db=min(at_seams) if at_seams else float("nan"),
        kbps=size * 8 / duration / 1000,
    )


def main() -> None:
    args = parse_args(__doc__ or "", options)
    settings = Settings(data_dir=Path(tempfile.gettempdir()), _env_file=None)
    opts = ffmpeg_options(settings)
    with tempfile.TemporaryDirectory(prefix="bench-seams-") as tmp:
        work = Path(tmp)
        source = make_source(work, args)
        info: MediaInfo = probe_file(source, opts.limits)
        rungs = plan_ladder(opts.ladder, info.width, info.height, info.fps)
        rung = next((r for r in rungs if r.name == args.rung), rungs[-1])
        chunks = plan_chunks(info.duration_s, opts, chunk_s=args.chunk)
        variants = {"chunked": chunks}
        if args.preroll > 0:
            with_preroll = plan_chunks(
                info.duration_s, opts, chunk_s=args.chunk, preroll_s=args.preroll
            )
            variants[f"chunked, {with_preroll[-1].preroll_s} s pre-roll"] = with_preroll
        seconds: dict[str, list[float]] = {"single pass": [], **{name: [] for name in variants}}
        for i in range(args.runs):
            shutil.rmtree(work / "out", ignore_errors=True)
            seconds["single pass"].append(encode_single(opts, source, work / "out" / "0", rung))
            for n, (name, plan) in enumerate(variants.items(), 1):
                folder = work / "out" / str(n)
                seconds[name].append(encode_chunked(opts, source, folder, rung, plan))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items()))
        measured = {
            name: measure(work / "out" / str(n) / rung.name / "index.m3u8", source, rung, chunks, s)
            for n, (name, s) in enumerate(seconds.items())
        }
    publish(render(args, rung, chunks, measured), args)


def render(
    args: argparse.Namespace, rung: RungPlan, chunks: list[Chunk], measured: dict[str, Measured]
) -> str:
    def times(m: Measured) -> str:
        median = statistics.median(m.encode_s)
        return f"{median:.2f} (" + ", ".join(f"{s:.2f}" for s in m.encode_s) + ")"

    rows: list[tuple[str, Callable[[Measured], str]]] = [
        ("PSNR, whole video (dB)", lambda m: f"{m.whole_db:.2f}"),
        (f"PSNR, frames within +-{SEAM_S:g} s of a boundary (dB)", lambda m: f"{m.seams_db:.2f}"),
        ("lowest frame PSNR at a boundary (dB)", lambda m: f"{m.seams_min_db:.2f}"),
        ("bit rate (kb/s)", lambda m: f"{m.kbps:.0f}"),
        ("encode wall time, median (runs) (s)", times),
    ]
    cmd = f"nice -n 5 .venv/bin/python benchmarks/seams.py --seconds {args.seconds:g} "
    cmd += f"--height {args.height} --rung {args.rung} --chunk {args.chunk:g} --runs {args.runs}"
    if args.preroll:
        cmd += f" --preroll {args.preroll:g}"
    single = measured["single pass"]
    verdicts = [
        f"{name} minus single pass: **{m.seams_db - single.seams_db:+.2f} dB at the seams**, "
        f"{m.whole_db - single.whole_db:+.2f} dB over the whole video, encode time "
        f"x{statistics.median(m.encode_s) / statistics.median(single.encode_s):.2f}."
        for name, m in measured.items()
        if name != "single pass"
    ]
    lines = [
        f"\n## Seams: chunked vs single-pass encode of one rung ({dt.date.today()})\n",
        f"Command: `{cmd}`\n",
        f"Source: {args.seconds:g} s {width_of(args)}x{args.height} 30 fps H.264 (generated); "
        f"rung {rung.name} ({rung.width}x{rung.height}, {rung.video_kbps} kb/s); "
        f"{len(chunks)} chunks of {chunks[0].end_s or args.seconds:g} s (the last to the end), "
        f"encoded one after the other; segment 4 s, GOP 2 s, preset veryfast. {machine()}\n",
        "| | " + " | ".join(measured) + " |",
        "|---|" + "---|" * len(measured),
        *(
            f"| {label} | " + " | ".join(f(m) for m in measured.values()) + " |"
            for label, f in rows
        ),
        "",
        *verdicts,
        "(Goal: seams within 0.5 dB of the single pass.)\n",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
