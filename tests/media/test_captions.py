"""Caption files: SRT -> WebVTT conversion, WebVTT normalization, and clear refusals."""

from __future__ import annotations

import pytest

from reelstream.media.captions import (
    MAX_CAPTION_BYTES,
    normalize_lang,
    parse_caption,
    to_webvtt,
    vtt_time,
)
from reelstream.media.errors import CaptionTooLarge, InvalidCaption

SRT = """1
00:00:00,500 --> 00:00:02,000
Hello <i>there</i>

2
00:00:02,250 --> 00:00:04,125
Two lines,
<font color="red">second</font> & {\\an8}more
"""

EXPECTED = """WEBVTT

00:00:00.500 --> 00:00:02.000
Hello <i>there</i>

00:00:02.250 --> 00:00:04.125
Two lines,
second &amp; more
"""


def test_srt_to_webvtt() -> None:
    assert to_webvtt(SRT.encode()) == EXPECTED


@pytest.mark.parametrize(
    "variant",
    [
        SRT.replace("\n", "\r\n"),  # CRLF
        SRT.replace("\n", "\r"),  # old Mac CR
        "\ufeff" + SRT,  # byte-order mark
        "\n\n" + SRT + "\n\n\n",  # blank lines around
        SRT.replace("1\n00:00:00", "00:00:00").replace("2\n00:00:02", "00:00:02"),  # no numbers
        SRT.replace("00:00:00,500", "0:0:0,5"),  # short fields
        SRT.replace(",", ".", 2).replace("Two lines.", "Two lines,"),  # dots for commas
    ],
)
def test_srt_variants_convert_identically(variant: str) -> None:
    assert to_webvtt(variant.encode()) == EXPECTED


def test_srt_position_coordinates_and_cue_order() -> None:
    srt = (
        "2\n00:00:05,000 --> 00:00:06,000 X1:10 X2:20 Y1:30 Y2:40\nlater\n\n"
        "1\n00:00:01,000 --> 00:00:02,000\nearlier\n"
    )
    cues = parse_caption(srt.encode()).cues
    assert [(c.start, c.end, c.text, c.settings) for c in cues] == [
        (5.0, 6.0, "later", ""),
        (1.0, 2.0, "earlier", ""),
    ]
    assert to_webvtt(srt.encode()).index("earlier") < to_webvtt(srt.encode()).index("later")


def test_webvtt_is_kept_with_identifiers_settings_and_styles() -> None:
    vtt = (
        "WEBVTT - a title\nKind: captions\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "NOTE this is dropped\n\n"
        "intro\n00:00.500 --> 00:01.000 align:start line:0\n<v Bob>Hi</v>\n\n"
        "01:00:00.000 --> 01:00:01.250\nan hour in\n"
    )
    out = to_webvtt(vtt.encode())
    assert out == (
        "WEBVTT\n\nSTYLE\n::cue { color: yellow }\n\n"
        "intro\n00:00:00.500 --> 00:00:01.000 align:start line:0\n<v Bob>Hi</v>\n\n"
        "01:00:00.000 --> 01:00:01.250\nan hour in\n"
    )
    assert to_webvtt(out.encode()) == out  # idempotent


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xfeW\x00E\x00B\x00", "not UTF-8"),
        ("Caf\u00e9".encode("latin-1") + b"\n00:00:01,000 --> 00:00:02,000\nx\n", "not UTF-8"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\x00\n", "NUL"),
        (b"WEBVTT\n", "no cues"),
        (b"WEBVTT\n\nhello world\n", "line 3"),
        (b"WEBVTT\n\n00:00:01,000 --> 00:00:02.000\nx\n", "'00:00:01,000' is not a valid"),
        (b"WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nx\n", "ends"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na --> b\n", "may not contain"),
        (b"WEBVTT\n\n00:61:01.000 --> 00:62:02.000\nx\n", "not a valid timestamp"),
        (b"1\n00:00:01,000 --> \nx\n", "no end time"),
        (b"just some text\nwith no timings\n", "line 1"),
        (b"1\n00:00:01,000 -> 00:00:02,000\nx\n", "line 1"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nx\n\nSTYLE\n::cue {}\n", "before the cues"),
    ],
)
def test_bad_files_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidCaption) as err:
        to_webvtt(data)
    assert reason in err.value.message


def test_size_limit() -> None:
    cue = "00:00:01,000 --> 00:00:02,000\n" + "x" * 100 + "\n\n"
    data = (cue * (MAX_CAPTION_BYTES // len(cue) + 1)).encode()
    with pytest.raises(CaptionTooLarge):
        to_webvtt(data)


def test_language_tags_and_times() -> None:
    assert normalize_lang("EN") == "en"
    assert normalize_lang("pt-br") == "pt-BR"
    assert normalize_lang("zh-hant-tw") == "zh-Hant-TW"
    for bad in ("e", "english language", "en_US", "../x", "en-"):
        with pytest.raises(InvalidCaption):
            normalize_lang(bad)
    assert vtt_time(3725.5) == "01:02:05.500"
    assert vtt_time(59.9996) == "00:01:00.000"
