"""Storyboards (seek previews): JPEG sprite sheets of small thumbnails plus a WebVTT index.

The thumbnails come from the ladder's own ffmpeg process: one more branch of its ``split``
runs ``fps=1/N,scale`` and writes one small JPEG per interval (``storyboard/th_00001.jpg``...),
so the source is decoded once. A second, tiny ffmpeg run then tiles those thumbnails into the
sheets ``storyboard/sb_001.jpg, sb_002.jpg, ...`` (tens of milliseconds: it reads small JPEGs,
never the source). The sheets are not tiled inside the ladder process because a ``tile``
output emits nothing until a sheet is full, and ffmpeg's ``-progress`` time is that of its
slowest output: the transcode's progress would stay at 0 until the very end.

The plan is fixed before encoding, from the probed duration:

* one thumbnail every ``interval_s`` (whole seconds, ``duration / 100`` rounded up, at least
  1 s and at most 10 s), so a video up to 1000 s has at most 100 thumbnails on one sheet and
  longer videos get several sheets of up to 10x10;
* thumbnails ``TILE_WIDTH`` px wide, the height following the picture's aspect ratio.

``storyboard.vtt`` maps each interval to its tile, ``sb_001.jpg#xywh=x,y,w,h``, with paths
relative to the VTT (so the signed token in its URL covers the sheets). The cues are written
from the sheets ffmpeg actually produced and always cover the whole duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reelstream.media.captions import vtt_time
from reelstream.media.ladder import even

FOLDER = "storyboard"
VTT_NAME = "storyboard.vtt"
SHEET_PATTERN = "sb_%03d.jpg"
THUMB_PATTERN = "th_%05d.jpg"  # the ladder's per-interval thumbnails, tiled then removed
TILE_WIDTH = 160
MAX_GRID = 10
MAX_INTERVAL_S = 10
TARGET_TILES = 100
JPEG_QUALITY = 5  # mjpeg -q:v of the sheets (2 best .. 31 worst)
THUMB_QUALITY = 2  # the intermediate thumbnails: near-lossless, they are encoded again


@dataclass(frozen=True)
class StoryboardPlan:
    interval_s: int
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    count: int  # thumbnails expected for the duration

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    @property
    def vtt_path(self) -> str:
        return f"{FOLDER}/{VTT_NAME}"

    def filter_chain(self) -> str:
        """The filters after ``split``: one frame per interval, scaled to a thumbnail.

        ``eof_action=pass`` keeps the last interval's frame even when the video ends before
        that interval does, so a clip shorter than one interval still has its one thumbnail
        (with the default, ffmpeg writes nothing for it and fails the whole command)."""
        return (
            f"fps=fps=1/{self.interval_s}:round=down:eof_action=pass,"
            f"scale=w={self.tile_width}:h={self.tile_height},setsar=1,format=yuvj420p"
        )

    @property
    def tile_filter(self) -> str:
        return f"tile={self.columns}x{self.rows}"


def plan_storyboard(duration_s: float, width: int, height: int) -> StoryboardPlan:
    """The storyboard of a video of ``duration_s`` whose picture is ``width`` x ``height``."""
    interval = min(MAX_INTERVAL_S, max(1, math.ceil(duration_s / TARGET_TILES)))
    count = max(1, math.ceil(duration_s / interval))
    columns = min(MAX_GRID, count)
    rows = min(MAX_GRID, math.ceil(count / columns))
    tile_height = even(TILE_WIDTH * height / width) if width > 0 else even(TILE_WIDTH * 9 / 16)
    return StoryboardPlan(interval, TILE_WIDTH, tile_height, columns, rows, count)


def sheet_name(number: int) -> str:
    """The file name of sheet ``number`` (1-based), as ``SHEET_PATTERN`` writes it."""
    return SHEET_PATTERN % number


def storyboard_vtt(plan: StoryboardPlan, sheets: int, duration_s: float) -> str:
    """The WebVTT index over ``sheets`` produced sheets; the last cue runs to the end."""
    cues: list[tuple[float, float, str]] = []
    for i in range(plan.count):
        sheet, pos = divmod(i, plan.per_sheet)
        start = i * plan.interval_s
        if sheet >= sheets or start >= duration_s:
            break
        x = (pos % plan.columns) * plan.tile_width
        y = (pos // plan.columns) * plan.tile_height
        ref = f"{sheet_name(sheet + 1)}#xywh={x},{y},{plan.tile_width},{plan.tile_height}"
        cues.append((start, min(duration_s, start + plan.interval_s), ref))
    if not cues:
        return "WEBVTT\n"
    last_start, _, last_ref = cues[-1]
    cues[-1] = (last_start, max(duration_s, last_start + 0.001), last_ref)
    body = "\n\n".join(f"{vtt_time(s)} --> {vtt_time(e)}\n{ref}" for s, e, ref in cues)
    return f"WEBVTT\n\n{body}\n"
