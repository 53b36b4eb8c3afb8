"""The media library's option values, built from ``Settings`` (the one place that maps them).

Built when they are used (per attempt), so a settings change is seen by the next attempt.
"""

from __future__ import annotations

from reelstream.config import Settings
from reelstream.media.options import FFmpegOptions, ProbeLimits


def probe_limits(settings: Settings) -> ProbeLimits:
    return ProbeLimits(
        allowed_formats=tuple(settings.allowed_formats),
        max_width=settings.max_width,
        max_height=settings.max_height,
        max_duration_s=settings.max_duration_s,
    )


def ffmpeg_options(settings: Settings) -> FFmpegOptions:
    return FFmpegOptions(
        path=settings.ffmpeg_path,
        threads=settings.ffmpeg_threads,
        timeout_s=settings.transcode_timeout_s,
        x264_preset=settings.x264_preset,
        gop_s=settings.gop_s,
        segment_s=settings.segment_s,
        audio_kbps=settings.audio_kbps,
        poster_at_s=settings.poster_at_s,
        ladder=tuple(settings.ladder),
        limits=probe_limits(settings),
    )
