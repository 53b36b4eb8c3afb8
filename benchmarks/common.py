"""What the benchmarks share: their command line, the generated source, the machine line of
a report, server timestamps, and appending a report to a file of docs/ (benchmarks.md by
default)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support import FFMPEG, make_clip

ROOT = Path(__file__).resolve().parents[1]


def parse_args(
    doc: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """The shared options; ``extra`` adds a benchmark's own."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def width_of(args: argparse.Namespace) -> int:
    return int(args.height * 16 // 9)


def make_source(folder: Path, args: argparse.Namespace) -> Path:
    """The generated source: ``--seconds`` of 16:9 ``--height``p30 H.264 at 8 Mb/s + AAC."""
    return make_clip(
        folder / "source.mp4",
        seconds=args.seconds,
        width=width_of(args),
        height=args.height,
        extra=["-b:v", "8M"],
    )


def machine() -> str:
    version = subprocess.run(
        [FFMPEG, "-version"], capture_output=True, text=True, check=True
    ).stdout.split("\n")[0]
    return f"Machine: {os.cpu_count()} cores, {platform.machine()}, {version}."


def server_time(text: str | None) -> float:
    """A timeline timestamp (ISO 8601, the server's clock) as seconds since the epoch."""
    assert text is not None
    return dt.datetime.fromisoformat(text).timestamp()


def publish(report: str, args: argparse.Namespace, name: str = "benchmarks.md") -> None:
    """Print ``report`` and, unless ``--no-write``, append it to ``docs/NAME``."""
    print(report)
    if args.no_write:
        return
    path = ROOT / "docs" / name
    if not path.exists():
        path.write_text("# Benchmarks\n\nEach section is one run of the command it names.\n")
    with path.open("a") as fh:
        fh.write(report)
