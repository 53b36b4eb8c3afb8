"""Pick the renditions of one video from the configured ladder (a pure function).

A rung's ``height`` is the picture's SHORT side, so a portrait phone video (1080x1920) gets the
same quality steps as a landscape one (its 360 rung is 360x640). Rungs taller than the source
are skipped (no upscaling); a source smaller than the lowest rung gets one rung at its own size.
Both output dimensions are even (4:2:0 chroma), and the aspect ratio is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from reelstream.media.options import LadderRung

MAXRATE_FACTOR = Fraction(3, 2)  # peak rate allowed over the target (VBV maxrate)
BUFSIZE_SECONDS = 2  # VBV buffer, in seconds of the target rate
MIN_TINY_KBPS = 100


@dataclass(frozen=True)
class RungPlan:
    """One rendition to encode."""

    name: str  # folder name, e.g. "v360"
    width: int
    height: int
    video_kbps: int
    maxrate_kbps: int
    bufsize_kbps: int
    fps: Fraction
    resample_fps: bool  # insert an fps filter (frame-rate cap or variable-rate source)

    @property
    def playlist(self) -> str:
        return f"{self.name}/index.m3u8"


def even(value: float) -> int:
    """Round to the nearest even integer, at least 2."""
    return max(2, 2 * round(value / 2))


def even_down(value: int) -> int:
    return max(2, value - value % 2)


def capped_fps(source: Fraction, cap: float) -> Fraction:
    """``min(source, cap)``, preferring an exact divisor of the source (59.94 -> 29.97).

    Dropping every other frame keeps motion even; a divisor is used when it stays within 20 %
    of the cap, otherwise the cap itself.
    """
    limit = Fraction(cap).limit_denominator(1001)
    if source <= limit:
        return source
    divided = source / math.ceil(source / limit)
    return divided if divided >= limit * Fraction(4, 5) else limit


def _size_for(short: int, src_w: int, src_h: int) -> tuple[int, int]:
    if src_h > src_w:  # portrait: the rung applies to the width
        return short, even(short * src_h / src_w)
    return even(short * src_w / src_h), short


def plan_ladder(
    rungs: Sequence[LadderRung],
    src_width: int,
    src_height: int,
    src_fps: Fraction,
    *,
    vfr: bool = False,
) -> list[RungPlan]:
    """The renditions for a source of ``src_width``x``src_height`` displayed pixels.

    Returned in ascending size (and bitrate) order; never empty.
    """
    if src_width <= 0 or src_height <= 0:
        raise ValueError("source dimensions must be positive")
    ordered = sorted(rungs, key=lambda r: (r.height, r.video_kbps))
    if not ordered:
        raise ValueError("the ladder needs at least one rung")
    source_short = min(src_width, src_height)
    chosen = [r for r in ordered if r.height <= source_short]
    plans: list[RungPlan] = []
    if not chosen:
        lowest = ordered[0]
        short = even_down(source_short)
        w, h = _size_for(short, src_width, src_height)
        area = Fraction(w * h) / (lowest.height * lowest.height * 16 / 9)
        kbps = max(MIN_TINY_KBPS, min(lowest.video_kbps, round(lowest.video_kbps * area)))
        plans.append(_plan(f"v{short}", w, h, kbps, lowest.max_fps, src_fps, vfr))
        return plans
    for rung in chosen:
        short = even_down(rung.height)
        w, h = _size_for(short, src_width, src_height)
        plans.append(_plan(f"v{rung.height}", w, h, rung.video_kbps, rung.max_fps, src_fps, vfr))
    return plans


def _plan(
    name: str, w: int, h: int, kbps: int, max_fps: float, src_fps: Fraction, vfr: bool
) -> RungPlan:
    fps = capped_fps(src_fps, max_fps)
    return RungPlan(
        name=name,
        width=w,
        height=h,
        video_kbps=kbps,
        maxrate_kbps=math.ceil(kbps * MAXRATE_FACTOR),
        bufsize_kbps=kbps * BUFSIZE_SECONDS,
        fps=fps,
        resample_fps=vfr or fps != src_fps,
    )
