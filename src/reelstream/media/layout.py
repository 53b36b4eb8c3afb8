"""What one packaged rev holds: the facts every manifest is written from.

A ``Layout`` is measured once, from the files ffmpeg wrote (``reelstream.media.packaging``),
and kept with the video (``videos.layout``). The HLS master (``hls``) and the DASH MPD
(``dash``) are pure functions of a layout plus the video's captions, so publishing a caption
later rewrites both manifests without touching, or even reading, a single segment.

Timelines are run-length encoded like a DASH ``SegmentTimeline``: ``(t, d, r)`` means ``r + 1``
segments of ``d`` track units each, the first starting at ``t``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from reelstream.media.errors import TranscodeError

LAYOUT_VERSION = 1
# the files of one rev (besides the rendition folders, ``v360/``, ``audio/``, and
# ``storyboard/``): the manifests, the default poster, the caption files
MASTER_NAME = "master.m3u8"
MPD_NAME = "manifest.mpd"
POSTER_NAME = "poster.jpg"
SUBS_FOLDER = "subs"


@dataclass(frozen=True)
class Track:
    """One rendition: a folder with a media playlist, an init segment and numbered segments."""

    name: str  # folder, e.g. "v360" or "audio"
    playlist: str  # "v360/index.m3u8"
    init: str  # "v360/init_1.mp4"
    media: str  # DASH template, "v360/seg_$Number%05d$.m4s"
    start_number: int
    codec: str  # RFC 6381, e.g. "avc1.64001e"
    peak_bps: int
    average_bps: int
    duration_s: float
    timescale: int
    timeline: list[tuple[int, int, int]]  # (t, d, r)
    width: int = 0  # video only
    height: int = 0
    frame_rate: str = ""  # "30" or "30000/1001"

    @property
    def fps(self) -> Fraction:
        return Fraction(self.frame_rate) if self.frame_rate else Fraction(0)

    @property
    def start(self) -> int:
        return self.timeline[0][0] if self.timeline else 0

    @property
    def segment_count(self) -> int:
        return sum(r + 1 for _, _, r in self.timeline)


@dataclass(frozen=True)
class Layout:
    videos: list[Track]  # ascending size
    audio: Track | None
    duration_s: float
    storyboard: str | None = None  # "storyboard/storyboard.vtt" when one was made
    # True while the rev is still being produced: its playlists grow (HLS EVENT, no ENDLIST
    # yet) and ``duration_s`` is the source's, not yet what the tracks hold
    growing: bool = False
    version: int = field(default=LAYOUT_VERSION)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Layout:
        if data.get("version") != LAYOUT_VERSION:
            raise TranscodeError(f"unknown layout version {data.get('version')!r}")

        def track(raw: dict[str, Any]) -> Track:
            return Track(**{**raw, "timeline": [tuple(x) for x in raw["timeline"]]})

        return cls(
            videos=[track(v) for v in data["videos"]],
            audio=track(data["audio"]) if data.get("audio") else None,
            duration_s=float(data["duration_s"]),
            storyboard=data.get("storyboard"),
            growing=bool(data.get("growing", False)),
        )


@dataclass(frozen=True)
class SubtitleTrack:
    """A published caption file of one language (names relative to the rev folder)."""

    lang: str  # BCP 47, e.g. "en" or "pt-BR"
    label: str  # shown in players' menus
    vtt: str  # "subs/en-0a1b2c3d.vtt"
    playlist: str  # "subs/en-0a1b2c3d.m3u8": the HLS media playlist of that one file


def subtitle_files(lang: str, label: str, sha256: str) -> SubtitleTrack:
    """Where a caption is published inside a rev: content-addressed names, so a name never
    changes meaning and stays immutable for caches."""
    stem = f"{SUBS_FOLDER}/{lang}-{sha256[:16]}"
    return SubtitleTrack(lang=lang, label=label, vtt=f"{stem}.vtt", playlist=f"{stem}.m3u8")


def compress_timeline(spans: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """``[(start, duration), ...]`` per segment -> ``[(t, d, r), ...]`` runs."""
    runs: list[tuple[int, int, int]] = []
    for start, duration in spans:
        if runs:
            t, d, r = runs[-1]
            if d == duration and t + d * (r + 1) == start:
                runs[-1] = (t, d, r + 1)
                continue
        runs.append((start, duration, 0))
    return runs


def expand_timeline(runs: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    return [(t + d * i, d) for t, d, r in runs for i in range(r + 1)]


def frame_rate_text(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"
