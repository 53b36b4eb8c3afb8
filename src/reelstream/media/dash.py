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
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence

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


def iso_duration(seconds: float) -> str:
    return f"PT{max(0.0, seconds):.3f}S"


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


def mpd_document(
    layout: Layout, subtitles: Sequence[SubtitleTrack] = (), *, audio_only: bool = False
) -> str:
    tracks = [*layout.videos, *([layout.audio] if layout.audio else [])]
    root = ET.Element(
        "MPD",
        {
            "xmlns": DASH_NS,
            "type": "static",
            "profiles": PROFILE,
            "mediaPresentationDuration": iso_duration(layout.duration_s),
            "minBufferTime": iso_duration(math.ceil(_longest_segment_s(tracks))),
        },
    )
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
