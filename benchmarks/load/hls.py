"""What a viewer reads from HLS playlists, and the rung it picks from measured throughput.

Written by hand (a few lines) rather than with an m3u8 library: the harness needs only the
variants' BANDWIDTH and URI, the audio rendition's URI, the EXT-X-MAP and the segments with
their EXTINF durations, from the playlists reelstream itself writes (``reelstream.media.hls``).
Deliberately not ``reelstream.media.packaging.parse_media_playlist``: the harness is a client,
and the chaos checker builds on it, so it reads playlists as a player would, independently of
the code that wrote them (a bug there must not be mirrored here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def attributes(line: str) -> dict[str, str]:
    """``#TAG:A=1,B="x,y"`` -> ``{"A": "1", "B": "x,y"}``."""
    _, _, rest = line.partition(":")
    return {k: v.strip('"') for k, v in _ATTR.findall(rest)}


@dataclass(frozen=True)
class Variant:
    bandwidth: int
    uri: str
    audio_group: str | None = None


@dataclass(frozen=True)
class Master:
    variants: list[Variant]  # sorted by bandwidth, lowest first
    audio: dict[str, str] = field(default_factory=dict)  # group id -> playlist URI


@dataclass(frozen=True)
class Segment:
    uri: str
    duration_s: float


@dataclass(frozen=True)
class MediaPlaylist:
    init_uri: str | None
    segments: list[Segment]

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)


def parse_master(text: str) -> Master:
    variants: list[Variant] = []
    audio: dict[str, str] = {}
    pending: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MEDIA:"):
            attrs = attributes(line)
            if attrs.get("TYPE") == "AUDIO" and "URI" in attrs and "GROUP-ID" in attrs:
                audio.setdefault(attrs["GROUP-ID"], attrs["URI"])
        elif line.startswith("#EXT-X-STREAM-INF:"):
            pending = attributes(line)
        elif line and not line.startswith("#") and pending is not None:
            variants.append(Variant(int(pending.get("BANDWIDTH", "0")), line, pending.get("AUDIO")))
            pending = None
    if not variants:
        raise ValueError("the master playlist names no variant")
    return Master(sorted(variants, key=lambda v: v.bandwidth), audio)


def parse_media(text: str) -> MediaPlaylist:
    init: str | None = None
    segments: list[Segment] = []
    duration: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MAP:"):
            init = attributes(line).get("URI")
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append(Segment(line, duration))
            duration = None
    return MediaPlaylist(init, segments)


def choose_rung(
    bandwidths: Sequence[int], throughput_bps: float | None, start: int, safety: float = 0.8
) -> int:
    """The index of the highest rung whose BANDWIDTH is below ``safety`` x the measured
    throughput (bits/s); the lowest when none is; ``start`` before anything was measured.
    ``bandwidths`` are sorted, lowest first."""
    if not bandwidths:
        raise ValueError("no rungs to choose from")
    if throughput_bps is None:
        return max(0, min(start, len(bandwidths) - 1))
    budget = safety * throughput_bps
    chosen = 0
    for i, bw in enumerate(bandwidths):
        if bw < budget:
            chosen = i
    return chosen
