"""Checks of published media shared by the transcode, API and browser tests: the DASH MPD,
storyboard WebVTT files and JPEG sizes, each read the way a player reads them."""

from __future__ import annotations

import itertools
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
_TS = re.compile(r"^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$")


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    pos = 2
    while pos + 4 <= len(data):
        assert data[pos] == 0xFF, f"bad JPEG marker at {pos}"
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE):
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        pos += 2 + length
    raise AssertionError("no SOF marker in the JPEG")


def vtt_seconds(text: str) -> float:
    m = _TS.fullmatch(text.strip())
    assert m, f"bad WebVTT timestamp {text!r}"
    h, mm, s, ms = m.groups()
    return int(h or 0) * 3600 + int(mm) * 60 + int(s) + int(ms) / 1000


@dataclass(frozen=True)
class Tile:
    start: float
    end: float
    sheet: str
    x: int
    y: int
    w: int
    h: int


def parse_storyboard(text: str) -> list[Tile]:
    assert text.startswith("WEBVTT"), text[:50]
    tiles = []
    for block in re.split(r"\n\n+", text.strip())[1:]:
        lines = block.splitlines()
        start, end = (vtt_seconds(x) for x in lines[0].split("-->"))
        m = re.fullmatch(r"(sb_\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)", lines[1])
        assert m, lines[1]
        x, y, w, h = (int(v) for v in m.groups()[1:])
        tiles.append(Tile(start, end, m.group(1), x, y, w, h))
    return tiles


def check_storyboard(text: str, sheets: dict[str, bytes], duration_s: float) -> list[Tile]:
    """Every cue points inside its sheet, and the cues cover [0, duration] without gaps."""
    tiles = parse_storyboard(text)
    assert tiles, "the storyboard has no cues"
    assert tiles[0].start == 0
    for prev, cur in itertools.pairwise(tiles):
        assert cur.start == prev.end, f"gap or overlap between {prev} and {cur}"
    assert tiles[-1].end >= duration_s - 0.001
    sizes = {name: jpeg_size(data) for name, data in sheets.items()}
    for tile in tiles:
        assert tile.sheet in sizes, f"{tile.sheet} is referenced but missing"
        width, height = sizes[tile.sheet]
        assert tile.w > 0 and tile.h > 0
        assert tile.x + tile.w <= width and tile.y + tile.h <= height, (tile, width, height)
    return tiles


@dataclass(frozen=True)
class Representation:
    id: str
    content: str  # video, audio, text
    attrs: dict[str, str]
    files: list[str]  # init + media files (or the BaseURL of a text track)
    duration_s: float  # timeline total


def _expand(template: ET.Element) -> tuple[list[str], float]:
    timescale = int(template.get("timescale", "1"))
    number = int(template.get("startNumber", "1"))
    media = template.get("media", "")
    files = [template.get("initialization", "")]
    total = 0
    for s in template.iterfind("d:SegmentTimeline/d:S", NS):
        d = int(s.get("d", "0"))
        for _ in range(int(s.get("r", "0")) + 1):
            files.append(media.replace("$Number%05d$", f"{number:05d}"))
            number += 1
            total += d
    return files, total / timescale


def parse_mpd(text: str) -> tuple[ET.Element, list[Representation]]:
    root = ET.fromstring(text)
    assert root.tag == "{urn:mpeg:dash:schema:mpd:2011}MPD"
    reps = []
    for aset in root.iterfind("d:Period/d:AdaptationSet", NS):
        content = aset.get("contentType", "")
        for rep in aset.iterfind("d:Representation", NS):
            template = rep.find("d:SegmentTemplate", NS)
            if template is not None:
                files, duration = _expand(template)
            else:
                base = rep.find("d:BaseURL", NS)
                files, duration = [base.text or "" if base is not None else ""], 0.0
            reps.append(
                Representation(rep.get("id", ""), content, dict(rep.attrib), files, duration)
            )
    return root, reps


def check_mpd(text: str, stored: set[str], duration_s: float) -> list[Representation]:
    """A static ISO-live MPD whose every file exists and whose timelines span the video."""
    root, reps = parse_mpd(text)
    assert root.get("type") == "static"
    assert root.get("profiles") == "urn:mpeg:dash:profile:isoff-live:2011"
    assert root.get("mediaPresentationDuration", "").startswith("PT")
    for rep in reps:
        for f in rep.files:
            assert f in stored, f"the MPD names {f}, which is not published"
        if rep.content in ("video", "audio"):
            assert abs(rep.duration_s - duration_s) < 0.1, (rep.id, rep.duration_s, duration_s)
            assert int(rep.attrs["bandwidth"]) > 0 and rep.attrs["codecs"]
    return reps
