"""Playlists as reelstream writes them, and the rung choice from measured throughput."""

from __future__ import annotations

import pytest
from benchmarks.load.hls import choose_rung, parse_master, parse_media

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2500000,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"
v720/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=363175,AVERAGE-BANDWIDTH=351656,RESOLUTION=320x180,CODECS="avc1.64000d,mp4a.40.2",AUDIO="audio"
v180/index.m3u8
"""

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init_0.mp4"
#EXTINF:4.000000,
seg_00001.m4s
#EXTINF:2.500000,
seg_00002.m4s
#EXT-X-ENDLIST
"""


def test_master_variants_sorted_lowest_first_with_audio() -> None:
    master = parse_master(MASTER)
    assert [v.bandwidth for v in master.variants] == [363175, 2500000]
    assert master.variants[0].uri == "v180/index.m3u8"
    assert master.variants[0].audio_group == "audio"
    assert master.audio == {"audio": "audio/index.m3u8"}


def test_a_master_without_variants_is_refused() -> None:
    with pytest.raises(ValueError, match="no variant"):
        parse_master("#EXTM3U\n")


def test_media_playlist_init_and_segments() -> None:
    media = parse_media(MEDIA)
    assert media.init_uri == "init_0.mp4"
    assert [(s.uri, s.duration_s) for s in media.segments] == [
        ("seg_00001.m4s", 4.0),
        ("seg_00002.m4s", 2.5),
    ]
    assert media.duration_s == pytest.approx(6.5)


RUNGS = [400_000, 1_000_000, 2_500_000, 5_000_000]


@pytest.mark.parametrize(
    ("throughput", "expected"),
    [
        (None, 1),  # nothing measured yet: the start rung
        (100_000, 0),  # below every rung: the lowest
        (1_300_000, 1),  # 0.8 x 1.3M = 1.04M > 1M
        (1_250_000, 0),  # 0.8 x 1.25M = 1M, not below 1M
        (3_200_000, 2),
        (100_000_000, 3),
    ],
)
def test_highest_rung_below_80_percent_of_throughput(
    throughput: float | None, expected: int
) -> None:
    assert choose_rung(RUNGS, throughput, start=1) == expected


def test_start_rung_is_clamped() -> None:
    assert choose_rung(RUNGS, None, start=9) == 3
