"""The HLS master playlist and the subtitle playlists, written from a ``Layout``::

    #EXTM3U
    #EXT-X-VERSION:7
    #EXT-X-INDEPENDENT-SEGMENTS
    #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,...
    #EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="en",NAME="English",...,URI="subs/..."
    #EXT-X-STREAM-INF:BANDWIDTH=...,AVERAGE-BANDWIDTH=...,RESOLUTION=640x360,...,SUBTITLES="subs"
    v360/index.m3u8

A variant's BANDWIDTH is the peak segment bit rate of its video plus the audio's peak;
AVERAGE-BANDWIDTH adds the averages the same way. With ``audio_only`` an extra variant plays the
audio playlist alone (CODECS="mp4a.40.2"); players that show video skip it (hls.js drops
audio-only variants when video variants exist). All URIs are relative, so a signed master URL
signs everything below it.

While a rev is still being produced (``Layout.growing``), the master lists only the renditions
whose every segment exists or, for the first one, whose playlist grows ahead of playback.
Growing media playlists (``media_playlist``) are ``EXT-X-PLAYLIST-TYPE:EVENT`` and carry
``EXT-X-START:TIME-OFFSET=0`` so players start at the beginning instead of at a "live edge"
(only there: RFC 8216 allows the tag in a multivariant playlist too, but ffmpeg 9's HLS demuxer
then refuses the master, "Master Playlist tag found in a Media Playlist"); segments are only
ever appended, and ``EXT-X-ENDLIST`` is added when the rendition is complete. RFC 8216
(6.2.1) forbids changing a playlist's type, so such a playlist stays EVENT once complete; with
ENDLIST every player treats it as on demand.

A caption is one WebVTT file; its media playlist is a VOD playlist with that single segment
covering the whole duration. Our CMAF tracks start at decode time 0 on every track, which is
MPEG-TS time 0 by the HLS rules, so cue times are media times and no ``X-TIMESTAMP-MAP`` is
needed; ``timestamp_map`` gives the header for a timeline that does not start at 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from reelstream.media.layout import Layout, SubtitleTrack, Track

AUDIO_GROUP = "audio"
START_AT_BEGINNING = "#EXT-X-START:TIME-OFFSET=0,PRECISE=YES"
SUBTITLE_GROUP = "subs"


def _quoted(value: str) -> str:
    """An attribute value inside double quotes (which may not contain quotes or newlines)."""
    return '"' + value.replace('"', "'").replace("\n", " ").replace("\r", " ") + '"'


def master_playlist(
    layout: Layout, subtitles: Sequence[SubtitleTrack] = (), *, audio_only: bool = False
) -> str:
    audio = layout.audio
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Main",'
            f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="{audio.playlist}"'
        )
    for sub in subtitles:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLE_GROUP}",'
            f"LANGUAGE={_quoted(sub.lang)},NAME={_quoted(sub.label)},"
            f'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="{sub.playlist}"'
        )
    groups = []
    if audio is not None:
        groups.append(f'AUDIO="{AUDIO_GROUP}"')
    if subtitles:
        groups.append(f'SUBTITLES="{SUBTITLE_GROUP}"')
    entries: list[tuple[int, list[str], str]] = []
    for video in layout.videos:
        bandwidth = video.peak_bps + (audio.peak_bps if audio else 0)
        average = video.average_bps + (audio.average_bps if audio else 0)
        codecs = video.codec + (f",{audio.codec}" if audio else "")
        attrs = [
            f"BANDWIDTH={bandwidth}",
            f"AVERAGE-BANDWIDTH={average}",
            f"RESOLUTION={video.width}x{video.height}",
            f"FRAME-RATE={float(video.fps):.3f}",
            f'CODECS="{codecs}"',
            *groups,
        ]
        entries.append((bandwidth, attrs, video.playlist))
    if audio_only and audio is not None:
        attrs = [
            f"BANDWIDTH={audio.peak_bps}",
            f"AVERAGE-BANDWIDTH={audio.average_bps}",
            f'CODECS="{audio.codec}"',
        ]
        if subtitles:
            attrs.append(f'SUBTITLES="{SUBTITLE_GROUP}"')
        entries.append((audio.peak_bps, attrs, audio.playlist))
    for _, attrs, uri in sorted(entries, key=lambda e: e[0]):
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
        lines.append(uri)
    return "\n".join(lines) + "\n"


def media_playlist(
    init_uri: str,
    segments: Sequence[tuple[str, float]],
    *,
    target_s: int,
    ended: bool,
) -> str:
    """A growing rendition's media playlist: EVENT type, started at the beginning, segments
    ``(uri, duration)`` in order, ``EXT-X-ENDLIST`` once ``ended``. ``target_s`` must not
    change while the playlist grows (RFC 8216 4.3.3.1), so it is the nominal segment length
    (every EXTINF rounds to at most it), or more if a segment already came out longer."""
    longest = max((round(d) for _, d in segments), default=0)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(target_s, longest, 1)}",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        START_AT_BEGINNING,
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{init_uri}"',
    ]
    for uri, duration in segments:
        lines.append(f"#EXTINF:{duration:.6f},")
        lines.append(uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def subtitle_playlist(vtt_name: str, duration_s: float) -> str:
    """A VOD media playlist of one WebVTT file (``vtt_name``, relative to the playlist)."""
    return (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration_s))}\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:{duration_s:.6f},\n"
        f"{vtt_name}\n"
        "#EXT-X-ENDLIST\n"
    )


def timestamp_map(track: Track) -> str | None:
    """The ``X-TIMESTAMP-MAP`` header for cues on ``track``'s timeline; None when it starts
    at 0 (the default mapping)."""
    if track.start == 0:
        return None
    mpegts = round(track.start * 90000 / track.timescale)
    return f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000"
