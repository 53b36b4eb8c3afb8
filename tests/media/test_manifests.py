"""The manifests as pure functions of a Layout: HLS master (audio, subtitles, audio-only rung),
subtitle playlists, the DASH MPD; timelines from fMP4 boxes; the storyboard plan and index."""

from __future__ import annotations

import datetime as dt
import io
import struct
from dataclasses import replace

import pytest

from reelstream.media.dash import (
    GROWING_WINDOW_S,
    Growing,
    availability_start,
    mpd_document,
)
from reelstream.media.hls import (
    AUDIO_GROUP,
    SUBTITLE_GROUP,
    master_playlist,
    media_playlist,
    subtitle_playlist,
    timestamp_map,
)
from reelstream.media.layout import (
    Layout,
    SubtitleTrack,
    Track,
    compress_timeline,
    expand_timeline,
)
from reelstream.media.mp4 import fragment_span, track_info
from reelstream.media.packaging import parse_attributes, parse_media_playlist
from reelstream.media.storyboard import plan_storyboard, storyboard_vtt
from tests.media.media_checks import parse_mpd, parse_storyboard


def video(name: str, w: int, h: int, peak: int, avg: int, codec: str) -> Track:
    return Track(
        name=name,
        playlist=f"{name}/index.m3u8",
        init=f"{name}/init_0.mp4",
        media=f"{name}/seg_$Number%05d$.m4s",
        start_number=1,
        codec=codec,
        peak_bps=peak,
        average_bps=avg,
        duration_s=10.0,
        timescale=15360,
        timeline=[(0, 61440, 1), (122880, 30720, 0)],
        width=w,
        height=h,
        frame_rate="30000/1001",
    )


AUDIO = Track(
    name="audio",
    playlist="audio/index.m3u8",
    init="audio/init_2.mp4",
    media="audio/seg_$Number%05d$.m4s",
    start_number=1,
    codec="mp4a.40.2",
    peak_bps=140_000,
    average_bps=131_000,
    duration_s=10.02,
    timescale=48000,
    timeline=[(0, 192512, 1), (385024, 96512, 0)],
)
LAYOUT = Layout(
    videos=[
        video("v240", 426, 240, 450_000, 390_000, "avc1.640015"),
        video("v360", 640, 360, 900_000, 780_000, "avc1.64001e"),
    ],
    audio=AUDIO,
    duration_s=10.0,
    storyboard="storyboard/storyboard.vtt",
)
SUBS = [
    SubtitleTrack("en", "English", "subs/en-1.vtt", "subs/en-1.m3u8"),
    SubtitleTrack("pt-BR", 'Português "BR"', "subs/pt-BR-2.vtt", "subs/pt-BR-2.m3u8"),
]


def parse_master(
    text: str,
) -> tuple[list[str], list[dict[str, str]], list[tuple[dict[str, str], str]]]:
    lines = text.strip().splitlines()
    media = [parse_attributes(x.split(":", 1)[1]) for x in lines if x.startswith("#EXT-X-MEDIA:")]
    variants = [
        (parse_attributes(line.split(":", 1)[1]), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]
    return lines, media, variants


def test_master_playlist_round_trip() -> None:
    lines, media, parsed = parse_master(master_playlist(LAYOUT))
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert media == [
        {
            "TYPE": "AUDIO",
            "GROUP-ID": AUDIO_GROUP,
            "NAME": "Main",
            "DEFAULT": "YES",
            "AUTOSELECT": "YES",
            "CHANNELS": "2",
            "URI": "audio/index.m3u8",
        }
    ]
    assert [uri for _, uri in parsed] == ["v240/index.m3u8", "v360/index.m3u8"]
    low, high = parsed[0][0], parsed[1][0]
    assert int(low["BANDWIDTH"]) == 450_000 + 140_000
    assert int(low["AVERAGE-BANDWIDTH"]) == 390_000 + 131_000
    assert low["RESOLUTION"] == "426x240" and high["RESOLUTION"] == "640x360"
    assert low["CODECS"] == "avc1.640015,mp4a.40.2"
    assert low["FRAME-RATE"] == "29.970"
    assert low["AUDIO"] == AUDIO_GROUP
    assert "SUBTITLES" not in low


def test_master_without_audio() -> None:
    layout = Layout(videos=LAYOUT.videos[:1], audio=None, duration_s=10.0)
    _, media, parsed = parse_master(master_playlist(layout, audio_only=True))
    assert media == []
    assert len(parsed) == 1  # no audio track: no audio-only rung either
    assert parsed[0][0]["CODECS"] == "avc1.640015"
    assert "AUDIO" not in parsed[0][0]


def test_master_lists_the_subtitle_group_on_every_variant() -> None:
    _, media, parsed = parse_master(master_playlist(LAYOUT, SUBS))
    subs = [m for m in media if m["TYPE"] == "SUBTITLES"]
    assert [(m["LANGUAGE"], m["NAME"], m["URI"]) for m in subs] == [
        ("en", "English", "subs/en-1.m3u8"),
        ("pt-BR", "Português 'BR'", "subs/pt-BR-2.m3u8"),  # quotes cannot appear in a value
    ]
    assert all(m["GROUP-ID"] == SUBTITLE_GROUP and m["AUTOSELECT"] == "YES" for m in subs)
    assert all(m["DEFAULT"] == "NO" for m in subs)
    assert all(attrs["SUBTITLES"] == SUBTITLE_GROUP for attrs, _ in parsed)


def test_audio_only_rung() -> None:
    _, _, parsed = parse_master(master_playlist(LAYOUT, SUBS, audio_only=True))
    assert len(parsed) == 3
    attrs, uri = parsed[0]  # the lowest bandwidth comes first
    assert uri == "audio/index.m3u8"
    assert attrs["CODECS"] == "mp4a.40.2"
    assert int(attrs["BANDWIDTH"]) == AUDIO.peak_bps
    assert "RESOLUTION" not in attrs and "AUDIO" not in attrs
    assert attrs["SUBTITLES"] == SUBTITLE_GROUP
    mpd = mpd_document(LAYOUT, audio_only=True)
    assert "audio-only" in mpd
    assert "audio-only" not in mpd_document(LAYOUT)


def test_subtitle_playlist_is_one_segment_covering_the_video() -> None:
    playlist = parse_media_playlist(subtitle_playlist("en-1.vtt", 10.0))
    assert playlist.ended and playlist.init_uri is None
    assert [(s.uri, s.duration_s) for s in playlist.segments] == [("en-1.vtt", 10.0)]
    assert playlist.target_duration == 10
    assert timestamp_map(LAYOUT.videos[0]) is None
    shifted = Track(**{**LAYOUT.videos[0].__dict__, "timeline": [(15360, 61440, 0)]})
    assert timestamp_map(shifted) == "X-TIMESTAMP-MAP=MPEGTS:90000,LOCAL:00:00:00.000"


def test_mpd_describes_every_track_from_the_layout() -> None:
    root, reps = parse_mpd(mpd_document(LAYOUT, SUBS))
    assert root.get("type") == "static"
    # the period covers every segment listed: the audio ends 32 ms after the video here
    assert root.get("mediaPresentationDuration") == "PT10.032S"
    videos = [r for r in reps if r.content == "video"]
    assert [(r.id, r.attrs["width"], r.attrs["height"]) for r in videos] == [
        ("v240", "426", "240"),
        ("v360", "640", "360"),
    ]
    assert videos[0].attrs["bandwidth"] == "450000"  # the track's own peak (no audio added)
    assert videos[0].attrs["codecs"] == "avc1.640015"
    assert videos[0].attrs["frameRate"] == "30000/1001"
    assert videos[0].files == ["v240/init_0.mp4"] + [f"v240/seg_0000{n}.m4s" for n in (1, 2, 3)]
    assert videos[0].duration_s == pytest.approx(10.0)
    (audio,) = [r for r in reps if r.content == "audio"]
    assert audio.attrs["codecs"] == "mp4a.40.2" and audio.attrs["audioSamplingRate"] == "48000"
    assert audio.duration_s == pytest.approx((2 * 192512 + 96512) / 48000)
    texts = [r for r in reps if r.content == "text"]
    assert [(r.id, r.files) for r in texts] == [
        ("text-en", ["subs/en-1.vtt"]),
        ("text-pt-BR", ["subs/pt-BR-2.vtt"]),
    ]
    assert 'lang="pt-BR"' in mpd_document(LAYOUT, SUBS)


def _iso_s(text: str | None) -> float:
    assert text is not None and text.startswith("PT") and text.endswith("S"), text
    return float(text[2:-1])


def test_growing_mpd_is_dynamic_and_lists_the_stored_segments_only() -> None:
    """While the rev grows: a dynamic MPD whose timeline is exactly the segments stored so far
    (two of 3 here), every one of them available now by the wall clock, the beginning inside
    the time-shift window, refreshed every segment, no duration yet."""
    now = dt.datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=dt.UTC)
    stored = replace(video("v240", 426, 240, 450_000, 390_000, "avc1.640015"), duration_s=8.0)
    stored = replace(stored, timeline=[(0, 61440, 1)])
    audio = replace(AUDIO, duration_s=8.02, timeline=[(0, 192512, 1)])
    layout = Layout(videos=[stored], audio=audio, duration_s=30.0, growing=True)
    growing = Growing.first(now, layout.duration_s)
    text = mpd_document(layout, growing=growing)
    root, reps = parse_mpd(text)
    assert root.get("type") == "dynamic"
    assert root.get("mediaPresentationDuration") is None
    assert root.get("publishTime") == "2026-05-01T12:00:00.250Z"
    since = availability_start(text)
    assert since == growing.available_since
    # every segment of the whole video is available by now, and still at the end of the window
    assert since + dt.timedelta(seconds=layout.duration_s) <= now
    assert _iso_s(root.get("timeShiftBufferDepth")) >= layout.duration_s + GROWING_WINDOW_S
    assert 0 < _iso_s(root.get("minimumUpdatePeriod")) <= 4  # a segment at most
    (v240,) = [r for r in reps if r.content == "video"]
    assert v240.files == ["v240/init_0.mp4", "v240/seg_00001.m4s", "v240/seg_00002.m4s"]
    assert v240.duration_s == pytest.approx(8.0)
    (aud,) = [r for r in reps if r.content == "audio"]
    assert len(aud.files) == 3
    period = root.find("{urn:mpeg:dash:schema:mpd:2011}Period")
    assert period is not None and period.get("start") == "PT0S"

    # the lead complete: the MPD of what is listed becomes static (on demand), no more updates
    ended = replace(layout, videos=[replace(stored, duration_s=30.0)], duration_s=30.0)
    later = Growing(since, now + dt.timedelta(seconds=3), ended=True)
    assert mpd_document(ended, growing=later) == mpd_document(replace(ended, growing=False))
    done, _ = parse_mpd(mpd_document(ended, growing=later))
    assert done.get("type") == "static" and done.get("minimumUpdatePeriod") is None
    assert done.get("mediaPresentationDuration") == "PT30.000S"
    # a static MPD has no anchor to carry over
    assert availability_start(mpd_document(LAYOUT)) is None


def test_growing_playlists_start_at_the_beginning_and_the_master_stays_plain() -> None:
    """EXT-X-START in the growing media playlists only: ffmpeg refuses a multivariant playlist
    that carries it ("Master Playlist tag found in a Media Playlist")."""
    growing = replace(LAYOUT, videos=LAYOUT.videos[:1], growing=True)
    assert "EXT-X-START" not in master_playlist(growing)
    media = media_playlist("init_0.mp4", [("seg_00001.m4s", 4.0)], target_s=4, ended=False)
    assert "#EXT-X-START:TIME-OFFSET=0,PRECISE=YES" in media.splitlines()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in media and "#EXT-X-ENDLIST" not in media


def test_layout_json_round_trip_and_timelines() -> None:
    assert Layout.from_json(LAYOUT.to_json()) == LAYOUT
    spans = [(0, 100), (100, 100), (200, 100), (300, 40), (400, 100)]
    runs = compress_timeline(spans)
    assert runs == [(0, 100, 2), (300, 40, 0), (400, 100, 0)]
    assert expand_timeline(runs) == spans


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full(kind: bytes, flags: int, payload: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def test_track_info_and_fragment_spans_from_boxes() -> None:
    mdhd = full(b"mdhd", 0, struct.pack(">IIII", 0, 0, 48000, 0) + bytes(4))
    trex = full(b"trex", 0, struct.pack(">IIIII", 1, 1, 1024, 0, 0))
    init = box(b"ftyp", b"iso6") + box(
        b"moov",
        box(b"trak", box(b"mdia", mdhd)) + box(b"mvex", trex),
    )
    info = track_info(init)
    assert (info.timescale, info.default_sample_duration) == (48000, 1024)

    # durations from trex defaults, from tfhd defaults, and per sample in trun
    tfdt = full(b"tfdt", 0, struct.pack(">Q", 96256), version=1)
    plain = full(b"trun", 0x001, struct.pack(">Ii", 10, 0))
    seg = box(b"styp", b"msdh") + box(
        b"moof", box(b"traf", full(b"tfhd", 0, bytes(4)) + tfdt + plain)
    )
    seg += box(b"mdat", bytes(100))
    assert fragment_span(io.BytesIO(seg), 1024) == (96256, 10 * 1024)

    tfhd = full(b"tfhd", 0x08, struct.pack(">II", 1, 512))
    seg = box(b"moof", box(b"traf", tfhd + full(b"tfdt", 0, struct.pack(">I", 7)) + plain))
    assert fragment_span(io.BytesIO(seg), 1024) == (7, 10 * 512)

    durations = [1000, 1001, 999]
    samples = b"".join(struct.pack(">II", d, 50) for d in durations)
    trun = full(b"trun", 0x301, struct.pack(">Ii", 3, 0) + samples)
    seg = box(b"moof", box(b"traf", tfhd + full(b"tfdt", 0, struct.pack(">I", 0)) + trun))
    assert fragment_span(io.BytesIO(seg + box(b"mdat", bytes(150))), 1024) == (0, 3000)


@pytest.mark.parametrize(
    ("duration", "interval", "grid", "count"),
    [
        (4.0, 1, (4, 1), 4),
        (6.5, 1, (7, 1), 7),
        (100.0, 1, (10, 10), 100),
        (250.0, 3, (10, 9), 84),
        (3600.0, 10, (10, 10), 360),  # several sheets
    ],
)
def test_storyboard_plan(duration: float, interval: int, grid: tuple[int, int], count: int) -> None:
    plan = plan_storyboard(duration, 1280, 720)
    assert plan.interval_s == interval
    assert (plan.columns, plan.rows) == grid
    assert plan.count == count
    assert (plan.tile_width, plan.tile_height) == (160, 90)
    assert plan.per_sheet <= 100
    portrait = plan_storyboard(duration, 360, 640)
    assert (portrait.tile_width, portrait.tile_height) == (160, 284)


def test_storyboard_vtt_covers_the_duration_with_the_sheets_that_exist() -> None:
    plan = plan_storyboard(250.0, 1280, 720)  # 84 tiles of 3 s on one 10x9 sheet
    tiles = parse_storyboard(storyboard_vtt(plan, 1, 250.0))
    assert len(tiles) == 84
    assert tiles[0].start == 0 and tiles[-1].end == 250.0
    assert (tiles[11].x, tiles[11].y) == (160, 90)
    long = plan_storyboard(3600.0, 1280, 720)  # 360 tiles, 4 sheets; suppose only 3 arrived
    tiles = parse_storyboard(storyboard_vtt(long, 3, 3600.0))
    assert len(tiles) == 300
    assert {t.sheet for t in tiles} == {"sb_001.jpg", "sb_002.jpg", "sb_003.jpg"}
    assert tiles[-1].end == 3600.0  # the last available tile stretches to the end
