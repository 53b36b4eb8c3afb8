"""The DASH manifest (``manifest.mpd``) over the same CMAF segments the HLS playlists name.

One static MPD, ISO live profile, one Period::

    <MPD type="static" profiles="urn:mpeg:dash:profile:isoff-live:2011" ...>
      <Period id="0" start="PT0S">
        <AdaptationSet contentType="video" ...>       one Representation per rung
          <Representation id="v360" bandwidth codecs width height frameRate>
            <SegmentTemplate timescale initialization="v360/init_1.mp4"
                             media="v360/seg_$Number%05d$.m4s" startNumber="1">
              <SegmentTimeline><S t="0" d="61440" r="1"/><S d="30720"/></SegmentTimeline>
        <AdaptationSet contentType="audio" ...>       the AAC track
        <AdaptationSet contentType="text" lang="en">  one per caption (a whole WebVTT file)

Every number comes from the ``Layout``: bit rates and codec strings are the ones the HLS master
uses, and the SegmentTimeline is the exact ``tfdt``/``trun`` timing of each segment in the
track's own timescale. Segment URLs are relative to the MPD, so the signed token in the MPD's
path covers them (no second encode, no copies: the files are the HLS ones).

While a rev is still being produced (``Layout.growing``, see ``reelstream.processing.
progressive``) the MPD is ``type="dynamic"`` (``Growing`` says how it is anchored in time):

* the SegmentTimeline lists exactly the segments stored so far, and ``minimumUpdatePeriod``
  (``GROWING_UPDATE_S``) makes players fetch it again as it grows; there is no
  ``mediaPresentationDuration`` yet;
* ``availabilityStartTime`` is the moment the rev first became playable minus the video's whole
  duration, and never changes for the rev (ISO 23009-1 5.4: an MPD update keeps it): every
  segment the video will ever have is "available" by the wall clock, so a player's clock skew
  cannot make it wait for a segment that is listed;
* ``timeShiftBufferDepth`` covers the whole video and a week more (``GROWING_WINDOW_S``), so
  the beginning stays in the time-shift window: players are started there (dash.js:
  ``initialize(..., startTime=0)``), not at the "live edge";
* once the lead rendition is complete (``Growing.ended``), the MPD becomes the static MPD of
  the tracks listed (the lead rung and the audio), the way a live presentation that ended is
  offered on demand (DASH-IF IOP "live to on-demand"; dash.js >= 5 follows an MPD update from
  dynamic to static, ``DYNAMIC_TO_STATIC``). A dynamic MPD ended by
  ``mediaPresentationDuration`` alone is not enough for dash.js 5.2: it never signals the end
  of the stream and stalls a frame before the end. The final publish then writes the static
  MPD of every rung at the same URL (a player holding a static MPD never reloads it).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from reelstream.media.layout import Layout, SubtitleTrack, Track

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
CHANNELS_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
ROLE_SCHEME = "urn:mpeg:dash:role:2011"
AUDIO_RATE = 48000  # the ladder always encodes AAC at 48 kHz stereo
AUDIO_ONLY_NOTE = (
    " audio-only: the audio AdaptationSet plays on its own (the HLS master lists it as an "
    "audio-only variant) "
)


GROWING_WINDOW_S = 7 * 24 * 3600  # how long past its first publish a growing rev stays seekable
# How often players reload a growing MPD: a quarter of a segment, not a whole one. The lead
# encode runs far ahead of real time, but a player that loaded the MPD when it listed one
# segment and reloads it only a segment later has played that segment out by then (dash.js
# stalled at 3.9 s in tests/browser/test_progressive_player.py with one segment). Reloads are
# cheap: the origin answers an unchanged growing manifest with a 304.
GROWING_UPDATE_S = 1.0
_AST = re.compile(r'availabilityStartTime="([^"]+)"')


@dataclass(frozen=True)
class Growing:
    """How the dynamic MPD of a rev still being produced is anchored in wall-clock time."""

    available_since: dt.datetime  # MPD@availabilityStartTime (constant for the rev)
    published: dt.datetime  # MPD@publishTime
    ended: bool = False  # every listed track is complete: the MPD becomes static

    @classmethod
    def first(cls, now: dt.datetime, duration_s: float) -> Growing:
        """The anchor of a rev's first dynamic MPD, written at ``now``."""
        since = now.replace(microsecond=0) - dt.timedelta(seconds=math.ceil(duration_s) + 1)
        return cls(available_since=since, published=now)


def iso_duration(seconds: float) -> str:
    return f"PT{max(0.0, seconds):.3f}S"


def iso_datetime(when: dt.datetime) -> str:
    utc = when.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def availability_start(mpd: str) -> dt.datetime | None:
    """``availabilityStartTime`` of a dynamic MPD written by ``mpd_document``, else None."""
    if 'type="dynamic"' not in mpd:
        return None
    match = _AST.search(mpd)
    if match is None:
        return None
    return dt.datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))


def _segment_template(parent: ET.Element, track: Track) -> None:
    template = ET.SubElement(
        parent,
        "SegmentTemplate",
        timescale=str(track.timescale),
        initialization=track.init,
        media=track.media,
        startNumber=str(track.start_number),
    )
    timeline = ET.SubElement(template, "SegmentTimeline")
    expected: int | None = None
    for t, d, r in track.timeline:
        attrs = {"d": str(d)}
        if t != expected:
            attrs = {"t": str(t), **attrs}
        if r:
            attrs["r"] = str(r)
        ET.SubElement(timeline, "S", attrs)
        expected = t + d * (r + 1)


def _longest_segment_s(tracks: Sequence[Track]) -> float:
    return max((d / tr.timescale for tr in tracks for _, d, _ in tr.timeline), default=1.0)


def _timeline_end_s(track: Track) -> float:
    if not track.timeline:
        return 0.0
    t, d, r = track.timeline[-1]
    return (t + d * (r + 1)) / track.timescale


def _mpd_attributes(
    layout: Layout, tracks: Sequence[Track], growing: Growing | None
) -> dict[str, str]:
    longest = math.ceil(_longest_segment_s(tracks))
    attrs = {"xmlns": DASH_NS}
    if growing is None or growing.ended:
        # The period covers every segment listed: the AAC track often ends a few ms after the
        # video, sometimes in a segment of its own that starts at the source's duration; a
        # segment outside the period is never loaded by dash.js, which then never signals the
        # end of the stream (it pauses half a second before the end instead).
        duration = max([layout.duration_s, *(_timeline_end_s(t) for t in tracks)])
        return {
            **attrs,
            "type": "static",
            "profiles": PROFILE,
            "mediaPresentationDuration": iso_duration(duration),
            "minBufferTime": iso_duration(longest),
        }
    attrs |= {
        "type": "dynamic",
        "profiles": PROFILE,
        "availabilityStartTime": iso_datetime(growing.available_since),
        "publishTime": iso_datetime(growing.published),
    }
    attrs["minimumUpdatePeriod"] = iso_duration(min(longest, GROWING_UPDATE_S))
    attrs["timeShiftBufferDepth"] = iso_duration(
        math.ceil(layout.duration_s) + 1 + GROWING_WINDOW_S
    )
    attrs["maxSegmentDuration"] = iso_duration(longest)
    attrs["minBufferTime"] = iso_duration(longest)
    return attrs


def mpd_document(
    layout: Layout,
    subtitles: Sequence[SubtitleTrack] = (),
    *,
    audio_only: bool = False,
    growing: Growing | None = None,
) -> str:
    """The MPD of ``layout``: static, or dynamic (``growing`` given) while the rev grows."""
    tracks = [*layout.videos, *([layout.audio] if layout.audio else [])]
    root = ET.Element("MPD", _mpd_attributes(layout, tracks, growing))
    period = ET.SubElement(root, "Period", id="0", start="PT0S")
    videos = layout.videos
    vset = ET.SubElement(
        period,
        "AdaptationSet",
        id="0",
        contentType="video",
        mimeType="video/mp4",
        segmentAlignment="true",
        startWithSAP="1",
        maxWidth=str(max(v.width for v in videos)),
        maxHeight=str(max(v.height for v in videos)),
        maxFrameRate=max(videos, key=lambda v: v.fps).frame_rate,
    )
    for video in sorted(videos, key=lambda v: v.peak_bps):
        rep = ET.SubElement(
            vset,
            "Representation",
            id=video.name,
            bandwidth=str(video.peak_bps),
            codecs=video.codec,
            width=str(video.width),
            height=str(video.height),
            frameRate=video.frame_rate,
            sar="1:1",
        )
        _segment_template(rep, video)
    audio = layout.audio
    if audio is not None:
        if audio_only:
            period.append(ET.Comment(AUDIO_ONLY_NOTE))
        aset = ET.SubElement(
            period,
            "AdaptationSet",
            id="1",
            contentType="audio",
            mimeType="audio/mp4",
            segmentAlignment="true",
            startWithSAP="1",
        )
        ET.SubElement(aset, "Role", schemeIdUri=ROLE_SCHEME, value="main")
        rep = ET.SubElement(
            aset,
            "Representation",
            id=audio.name,
            bandwidth=str(audio.peak_bps),
            codecs=audio.codec,
            audioSamplingRate=str(AUDIO_RATE),
        )
        ET.SubElement(rep, "AudioChannelConfiguration", schemeIdUri=CHANNELS_SCHEME, value="2")
        _segment_template(rep, audio)
    for n, sub in enumerate(subtitles, start=2):
        tset = ET.SubElement(
            period,
            "AdaptationSet",
            id=str(n),
            contentType="text",
            mimeType="text/vtt",
            lang=sub.lang,
        )
        ET.SubElement(tset, "Role", schemeIdUri=ROLE_SCHEME, value="subtitle")
        label = ET.SubElement(tset, "Label")
        label.text = sub.label
        rep = ET.SubElement(tset, "Representation", id=f"text-{sub.lang}", bandwidth="256")
        base = ET.SubElement(rep, "BaseURL")
        base.text = sub.vtt
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
