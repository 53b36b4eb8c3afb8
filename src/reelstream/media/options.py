"""The option values the media library takes instead of the application's settings.

Small frozen values, built by the caller (``reelstream.processing.options`` builds them from
``Settings``), so the library never sees the configuration, and a benchmark or a remote runner
can build them by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class LadderRung(Protocol):
    """One configured rung of the adaptive-bitrate ladder (``reelstream.config.Rung``)."""

    @property
    def height(self) -> int: ...  # the picture's short side

    @property
    def video_kbps(self) -> int: ...

    @property
    def max_fps(self) -> float: ...


@dataclass(frozen=True)
class ProbeLimits:
    """What a source may be: its container family and its size."""

    allowed_formats: Sequence[str]  # libavformat family names, e.g. "matroska,webm"
    max_width: int
    max_height: int
    max_duration_s: float


@dataclass(frozen=True)
class FFmpegOptions:
    """How ffmpeg runs and encodes: the binary, the ladder and the encoding knobs. ``limits``
    are used when a command probes its source itself (``bare_ladder_command``)."""

    path: str | None  # None: the binary bundled with imageio-ffmpeg
    threads: int  # 0: ffmpeg decides
    timeout_s: float  # one encode
    x264_preset: str
    gop_s: int  # keyframe interval, seconds
    segment_s: int  # a multiple of gop_s
    audio_kbps: int
    poster_at_s: float  # the default poster time
    ladder: Sequence[LadderRung]
    limits: ProbeLimits
