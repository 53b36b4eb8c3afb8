"""Caption files: parse WebVTT or SubRip (SRT), validate, and write normalized WebVTT.

``to_webvtt(data)`` accepts the bytes of an upload and returns clean WebVTT or raises
``InvalidCaption`` / ``CaptionTooLarge`` with a reason that names the line. What is accepted:

* UTF-8 only (a byte-order mark is dropped), no NUL bytes, at most ``MAX_CAPTION_BYTES``;
* CRLF, CR and LF line ends;
* WebVTT (the first line starts with ``WEBVTT``): cues with optional identifiers and cue
  settings; ``STYLE`` and ``REGION`` blocks are kept, ``NOTE`` blocks dropped;
* SRT: numbered blocks with ``00:00:01,000 --> 00:00:02,500`` timings (a dot is accepted for
  the comma, one or two digit hours and fields, position coordinates are ignored); the tags
  WebVTT knows (``<b> <i> <u>``) are kept, others (``<font>``, ``{\\an8}``) removed, and stray
  ``&``, ``<`` and ``>`` escaped.

Every cue needs ``end > start >= 0``; cues are written in start order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reelstream.media.errors import CaptionTooLarge, InvalidCaption

MAX_CAPTION_BYTES = 2 * 1024 * 1024
MAX_CUES = 50_000
MAX_LABEL = 100

_VTT_TIME = re.compile(r"^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})$")
_SRT_TIME = re.compile(r"^(\d{1,3}):([0-5]?\d):([0-5]?\d)[,.](\d{1,3})$")
_ARROW = re.compile(r"\s+-->\s+|-->")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")
_ALLOWED_TAG = re.compile(r"</?[biu]>", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_ASS_TAG = re.compile(r"\{\\[^{}]*\}")
_ENTITY = re.compile(r"&(?:amp|lt|gt|lrm|rlm|nbsp|#\d+|#x[0-9A-Fa-f]+);")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    identifier: str = ""
    settings: str = ""


@dataclass(frozen=True)
class CaptionFile:
    cues: list[Cue]
    blocks: list[str]  # STYLE / REGION blocks, as written

    def to_text(self, header: str | None = None) -> str:
        out = ["WEBVTT" + (f"\n{header}" if header else "")]
        out += self.blocks
        for cue in sorted(self.cues, key=lambda c: (c.start, c.end)):
            timing = f"{vtt_time(cue.start)} --> {vtt_time(cue.end)}"
            if cue.settings:
                timing += f" {cue.settings}"
            lines = ([cue.identifier] if cue.identifier else []) + [timing]
            if cue.text:
                lines.append(cue.text)
            out.append("\n".join(lines))
        return "\n\n".join(out) + "\n"


def vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def normalize_lang(lang: str) -> str:
    """``EN-us`` -> ``en-US``; ``InvalidCaption`` unless it looks like a BCP 47 tag."""
    if len(lang) > 35 or not _LANG.fullmatch(lang):
        raise InvalidCaption(
            f"language {lang!r} is not a language tag like 'en', 'pt-BR' or 'zh-Hant'"
        )
    parts = lang.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part.lower())
    return "-".join(out)


def clean_label(label: str | None, lang: str) -> str:
    text = " ".join((label or "").split())
    if len(text) > MAX_LABEL:
        raise InvalidCaption(f"the label is longer than {MAX_LABEL} characters")
    if any(ord(ch) < 32 for ch in text):
        raise InvalidCaption("the label contains control characters")
    return text or lang


def decode(data: bytes) -> str:
    if len(data) > MAX_CAPTION_BYTES:
        raise CaptionTooLarge(
            f"the caption file is {len(data)} bytes; the limit is {MAX_CAPTION_BYTES} bytes"
        )
    if not data.strip():
        raise InvalidCaption("the caption file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCaption(
            f"the caption file is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    if "\x00" in text:
        raise InvalidCaption("the caption file contains NUL bytes: it is not a text file")
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every blank-line separated block."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not current:
                first = number
            current.append(line.rstrip())
        elif current:
            blocks.append((first, current))
            current = []
    if current:
        blocks.append((first, current))
    return blocks


def _seconds(match: re.Match[str]) -> float:
    h, m, s, frac = match.groups()
    ms = int(frac.ljust(3, "0"))
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + ms / 1000


def _timing(line: str, number: int, pattern: re.Pattern[str]) -> tuple[float, float, str]:
    parts = _ARROW.split(line.strip(), maxsplit=1)
    if len(parts) != 2:
        raise InvalidCaption(f"line {number}: expected 'start --> end', got {line.strip()!r}")
    start_text = parts[0].strip()
    rest = parts[1].strip().split(None, 1)
    if not rest:
        raise InvalidCaption(f"line {number}: the cue has no end time")
    end_text, settings = rest[0], (rest[1] if len(rest) > 1 else "")
    start_match = pattern.fullmatch(start_text)
    end_match = pattern.fullmatch(end_text)
    for text, match in ((start_text, start_match), (end_text, end_match)):
        if match is None:
            raise InvalidCaption(f"line {number}: {text!r} is not a valid timestamp")
    assert start_match is not None
    assert end_match is not None
    start, end = _seconds(start_match), _seconds(end_match)
    if end <= start:
        raise InvalidCaption(f"line {number}: the cue ends ({end_text}) before it starts")
    return start, end, " ".join(settings.split())


def _check_count(cues: list[Cue]) -> list[Cue]:
    if not cues:
        raise InvalidCaption("the caption file has no cues")
    if len(cues) > MAX_CUES:
        raise InvalidCaption(f"the caption file has more than {MAX_CUES} cues")
    return cues


def parse_webvtt(text: str) -> CaptionFile:
    blocks = _blocks(text)
    if not blocks or not re.fullmatch(r"WEBVTT(?:[ \t].*)?", blocks[0][1][0]):
        raise InvalidCaption("line 1: a WebVTT file must start with 'WEBVTT'")
    if any("-->" in line for line in blocks[0][1]):
        raise InvalidCaption("line 1: the WEBVTT header must be followed by a blank line")
    cues: list[Cue] = []
    kept: list[str] = []
    for number, lines in blocks[1:]:
        head = lines[0]
        if re.match(r"NOTE(?:\s|$)", head):
            continue
        if head in ("STYLE", "REGION") and "-->" not in "".join(lines):
            if cues:
                raise InvalidCaption(f"line {number}: {head} blocks must come before the cues")
            kept.append("\n".join(lines))
            continue
        if "-->" in head:
            ident, timing_at = "", 0
        elif len(lines) > 1 and "-->" in lines[1]:
            ident, timing_at = head, 1
        else:
            raise InvalidCaption(f"line {number}: expected a cue timing line ('start --> end')")
        start, end, settings = _timing(lines[timing_at], number + timing_at, _VTT_TIME)
        body = lines[timing_at + 1 :]
        for offset, line in enumerate(body, start=number + timing_at + 1):
            if "-->" in line:
                raise InvalidCaption(f"line {offset}: cue text may not contain '-->'")
        cues.append(Cue(start, end, "\n".join(body), ident, settings))
    return CaptionFile(_check_count(cues), kept)


def _srt_text(line: str) -> str:
    line = _ASS_TAG.sub("", line)
    out = []
    pos = 0
    for match in _ANY_TAG.finditer(line):
        out.append(_escape(line[pos : match.start()]))
        if _ALLOWED_TAG.fullmatch(match.group(0)):
            out.append(match.group(0).lower())
        pos = match.end()
    out.append(_escape(line[pos:]))
    return "".join(out).replace("-->", "->")


def _escape(text: str) -> str:
    pieces = []
    pos = 0
    for match in _ENTITY.finditer(text):
        pieces.append(_escape_plain(text[pos : match.start()]))
        pieces.append(match.group(0))
        pos = match.end()
    pieces.append(_escape_plain(text[pos:]))
    return "".join(pieces)


def _escape_plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_srt(text: str) -> CaptionFile:
    cues: list[Cue] = []
    for number, lines in _blocks(text):
        if "-->" in lines[0]:
            timing_at = 0
        elif len(lines) > 1 and lines[0].strip().isdigit() and "-->" in lines[1]:
            timing_at = 1
        else:
            raise InvalidCaption(
                f"line {number}: expected a cue number and a timing line "
                "('00:00:01,000 --> 00:00:02,000')"
            )
        timing = lines[timing_at]
        start, end, _ = _timing(timing, number + timing_at, _SRT_TIME)
        body = [_srt_text(line) for line in lines[timing_at + 1 :]]
        cues.append(Cue(start, end, "\n".join(line for line in body if line.strip())))
    return CaptionFile(_check_count(cues), [])


def parse_caption(data: bytes) -> CaptionFile:
    """WebVTT when the text starts with ``WEBVTT``, else SRT."""
    text = decode(data)
    if text.lstrip("\n").startswith("WEBVTT"):
        return parse_webvtt(text.lstrip("\n"))
    return parse_srt(text)


def to_webvtt(data: bytes) -> str:
    """The normalized WebVTT text of an uploaded WebVTT or SRT file."""
    return parse_caption(data).to_text()
