"""Probe and validate an uploaded source before anything decodes it.

Security: an uploaded file must never make ffmpeg or PyAV reach outside that file (no network,
no HLS playlists, no concat lists, no QuickTime data references). So we never let libavformat
guess the container: we sniff the magic bytes ourselves, refuse anything not among the
allowed formats (``ProbeLimits``), and open the file with an explicit demuxer, a ``file``-only
protocol whitelist and a format whitelist (a demuxer can therefore not hand over to the HLS or
concat demuxer), with QuickTime data references disabled. ``input_args`` gives ffmpeg the
same options.

Work is bounded before anything is planned or encoded: a file whose header claims far more
picture than its size can hold is refused (``check_work``), and so is one whose first keyframe
does not decode at the size its header declares (``_KeyframeCheck``).

Validation failures raise ``InvalidMedia`` with a reason meant for the uploader.
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import anyio
import av
import av.error

from reelstream.formatting import clock
from reelstream.media.errors import InvalidMedia
from reelstream.media.options import ProbeLimits

log = logging.getLogger(__name__)

SNIFF_BYTES = 4096
TRUNCATED = "the file is truncated or corrupt"
NOT_VIDEO = "not a recognised video file"
PLAYLIST = "playlists and concat lists are not accepted; upload the video file itself"


@dataclass(frozen=True)
class Container:
    """A container family: its libavformat name (as in ``allowed_formats``) and demuxer."""

    family: str
    demuxer: str


MOV = Container("mov,mp4,m4a,3gp,3g2,mj2", "mov")
MATROSKA = Container("matroska,webm", "matroska")
AVI = Container("avi", "avi")
MPEGTS = Container("mpegts", "mpegts")
FLV = Container("flv", "flv")
OGG = Container("ogg", "ogg")

_MOV_TOP_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}


def _is_mpegts(head: bytes, packet: int, offset: int) -> bool:
    syncs = [offset + i * packet for i in range(4)]
    present = [p for p in syncs if p < len(head)]
    return len(present) >= 2 and all(head[p] == 0x47 for p in present)


def _text_verdict(head: bytes) -> str | None:
    """Refuse text manifests (HLS playlists, concat lists) with a specific reason."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    lowered = text[:16].lower()
    if lowered.startswith((b"#extm3u", b"#ext-x-")):
        return PLAYLIST
    if lowered.startswith((b"ffconcat", b"file '", b'file "', b"file ")):
        return PLAYLIST
    return None


def sniff(head: bytes) -> Container:
    """The container family of a file from its first bytes; ``InvalidMedia`` when unknown."""
    if len(head) >= 8 and head[4:8] in _MOV_TOP_BOXES:
        return MOV
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MATROSKA
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return AVI
    if head.startswith(b"FLV\x01"):
        return FLV
    if head.startswith(b"OggS"):
        return OGG
    if _is_mpegts(head, 188, 0) or _is_mpegts(head, 192, 4):
        return MPEGTS
    raise InvalidMedia(_text_verdict(head) or NOT_VIDEO)


def is_allowed(container: Container, allowed: Sequence[str]) -> bool:
    names = {n.strip() for entry in allowed for n in entry.split(",")}
    return container.family in allowed or container.demuxer in names


def sniff_file(path: Path, limits: ProbeLimits) -> Container:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise InvalidMedia("the file is empty")
    container = sniff(head)
    if not is_allowed(container, limits.allowed_formats):
        raise InvalidMedia(f"the {container.demuxer} container is not accepted")
    return container


def demuxer_options(container: Container) -> dict[str, str]:
    """libavformat options that keep the demuxer inside the one local file."""
    opts = {"protocol_whitelist": "file", "format_whitelist": container.family}
    if container is MOV or container.demuxer == "mov":
        opts["enable_drefs"] = "0"
        opts["use_absolute_path"] = "0"
    return opts


def input_args(container: Container, path: Path) -> list[str]:
    """ffmpeg arguments that open ``path`` exactly as the probe did (explicit demuxer)."""
    args = ["-f", container.demuxer]
    for key, value in demuxer_options(container).items():
        args += [f"-{key}", value]
    return [*args, "-i", file_url(path)]


def file_url(path: Path) -> str:
    """A ``file:`` URL, so a file name can never be taken for another protocol."""
    return "file:" + str(path.resolve())


@dataclass(frozen=True)
class MediaInfo:
    """What the probe learned. ``width``/``height`` are the displayed size (after rotation
    and non-square pixels), which is what the ladder plans with."""

    container: str
    demuxer: str
    duration_s: float
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    fps: Fraction
    vfr: bool
    video_codec: str
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None = None
    audio_channels: int | None = None
    audio_sample_rate: int | None = None
    bit_rate: int | None = None

    @property
    def portrait(self) -> bool:
        return self.height > self.width

    def to_dict(self) -> dict[str, object]:
        data: dict[str, Any] = asdict(self)
        data["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        data["fps_float"] = round(float(self.fps), 3)
        return data


# -- pure checks (unit tested without media)


def check_resolution(width: int, height: int, limits: ProbeLimits) -> None:
    """Refuse oversized pictures; portrait and landscape are treated alike."""
    if width <= 0 or height <= 0:
        raise InvalidMedia("the video stream has no picture size; " + TRUNCATED)
    mw, mh = limits.max_width, limits.max_height
    if not ((width <= mw and height <= mh) or (width <= mh and height <= mw)):
        raise InvalidMedia(f"resolution {width}x{height} exceeds the limit of {mw}x{mh}")


def check_duration(duration_s: float, limits: ProbeLimits) -> None:
    if duration_s > limits.max_duration_s:
        raise InvalidMedia(
            f"the video is {clock(duration_s)} long; the limit is {clock(limits.max_duration_s)}"
        )


# The work a file may cause is bounded by its size. Encoding costs in proportion to the pixels
# decoded: picture size x frames (or x duration x frame rate, when sparse timestamps would make
# the encoder repeat frames). Real video needs bytes for them: a 10 s 1080p clip of plain black,
# the most compressible there is, holds ~23,000 pixels per byte (x264, default preset), film and
# screen recordings hold 10 to 1,000. A file that declares far more (a 10 KB stream whose header
# claims 4320x7680 for two seconds holds ~90,000) lies about its picture: refused at once,
# before a ladder is planned. Below WORK_FLOOR (10 s of 1080p at 30 fps) any file is accepted.
WORK_FLOOR = 1920 * 1080 * 30 * 10
MAX_PIXELS_PER_BYTE = 50_000


def check_work(width: int, height: int, frames: float, file_bytes: int) -> None:
    """Refuse a file whose declared picture and length are out of proportion to its size."""
    work = width * height * frames
    if work > WORK_FLOOR and work > MAX_PIXELS_PER_BYTE * max(1, file_bytes):
        raise InvalidMedia(
            f"the video declares a {width}x{height} picture over {math.ceil(frames)} frames, "
            f"far more than a file of {max(1, round(file_bytes / 1024))} KB can hold; "
            "its header does not match its content"
        )


def is_truncated(declared_s: float | None, measured_s: float) -> bool:
    """Packets stop well before the duration the header declares."""
    if declared_s is None or declared_s <= 0:
        return False
    return measured_s < declared_s - max(1.0, 0.05 * declared_s)


def choose_fps(average: Fraction | None, base: Fraction | None) -> tuple[Fraction, bool]:
    """The source frame rate to plan with, and whether the source looks variable-rate."""

    def sane(rate: Fraction | None) -> Fraction | None:
        return rate if rate is not None and 1 <= rate <= 240 else None

    avg, r = sane(average), sane(base)
    vfr = avg is not None and (r is None or abs(avg - r) / r > Fraction(1, 100))
    # For a variable-rate source, r_frame_rate is the finest rate that represents every
    # timestamp (the rate the camera aimed at); when it is implausible, the average.
    fps = (r if r is not None and r <= 120 else avg) if vfr else (avg or r)
    return fps or Fraction(30), vfr


def snap_fps(fps: Fraction) -> Fraction:
    """A variable source's average rate snapped to the nearest common rate (within 3 %)."""
    common = [
        Fraction(24000, 1001),
        Fraction(24),
        Fraction(25),
        Fraction(30000, 1001),
        Fraction(30),
        Fraction(48),
        Fraction(50),
        Fraction(60000, 1001),
        Fraction(60),
    ]
    best = min(common, key=lambda c: abs(c - fps))
    if abs(best - fps) / fps <= Fraction(3, 100):
        return best
    return Fraction(max(1, round(fps)))


def displayed_size(width: int, height: int, sar: Fraction | None, rotation: int) -> tuple[int, int]:
    if sar and sar > 0 and sar != 1 and Fraction(1, 10) < sar < 10:
        width = max(2, round(width * sar))
    if abs(rotation) % 180 == 90:
        width, height = height, width
    return width, height


# -- the probe itself


def _open(path: Path, container: Container) -> av.container.InputContainer:
    try:
        return av.open(
            file_url(path),
            mode="r",
            format=container.demuxer,
            container_options=demuxer_options(container),
            timeout=30.0,
        )
    except av.error.FFmpegError as exc:
        log.info("cannot open %s as %s: %s", path, container.demuxer, exc)
        raise InvalidMedia(TRUNCATED) from exc


def probe_file(path: Path, limits: ProbeLimits) -> MediaInfo:
    """Sniff, open, check limits and demux every packet (blocking: run it in a thread)."""
    container = sniff_file(path, limits)
    with _open(path, container) as src:
        videos = [
            s for s in src.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
        ]
        if not videos:
            raise InvalidMedia("no video stream found")
        video = videos[0]
        ctx = video.codec_context
        check_resolution(ctx.width, ctx.height, limits)
        declared = src.duration / 1_000_000 if src.duration and src.duration > 0 else None
        if declared is not None:
            check_duration(declared, limits)
        audios = list(src.streams.audio)
        audio = audios[0] if audios else None
        try:
            av.codec.Codec(ctx.name, "r")
        except (av.error.FFmpegError, ValueError) as exc:
            raise InvalidMedia(f"the {ctx.name} video codec is not supported") from exc

        measured, rotation, vfr_by_pts, frames, keyframe_ok = _demux_all(src, video)
        fps, vfr = choose_fps(video.average_rate, video.base_rate)
        vfr = vfr or vfr_by_pts
        if vfr:
            fps = snap_fps(fps)
        duration = declared if declared is not None else measured
        encoded_frames = max(frames, min(duration, measured) * float(fps))
        check_work(ctx.width, ctx.height, encoded_frames, path.stat().st_size)
        if not keyframe_ok:
            raise InvalidMedia(
                f"the first picture cannot be decoded at the {ctx.width}x{ctx.height} size "
                "the header declares; the file is corrupt or its header does not match its content"
            )
        if is_truncated(declared, measured):
            log.info("%s: packets end at %.2f s of %.2f s declared", path, measured, declared)
            raise InvalidMedia(TRUNCATED)
        check_duration(duration, limits)
        width, height = displayed_size(ctx.width, ctx.height, video.sample_aspect_ratio, rotation)
        check_resolution(width, height, limits)
        return MediaInfo(
            container=container.family,
            demuxer=container.demuxer,
            duration_s=round(duration, 3),
            width=width,
            height=height,
            coded_width=ctx.width,
            coded_height=ctx.height,
            rotation=rotation,
            fps=fps,
            vfr=vfr,
            video_codec=ctx.name,
            pix_fmt=ctx.pix_fmt,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_channels=audio.codec_context.channels if audio is not None else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            bit_rate=src.bit_rate or None,
        )


_DECODE_BUDGET = 300  # video packets tried before declaring the stream undecodable


def _demux_all(
    src: av.container.InputContainer, video: av.video.stream.VideoStream
) -> tuple[float, int, bool, int, bool]:
    """Read (not decode) every packet; decode only until the first video frame, and the first
    keyframe once more with decoding errors made fatal (``_KeyframeCheck``).

    Returns the measured duration, the display rotation, whether frame timing varies, the
    number of video frames (packets) and whether the first keyframe decodes cleanly.
    """
    origin = (src.start_time or 0) / 1_000_000
    end = 0.0
    video_pts: list[int] = []
    rotation: int | None = None
    tried = 0
    packets = 0
    corrupt = 0
    keyframe = _KeyframeCheck(video)
    try:
        for packet in src.demux():
            if packet.size == 0:
                continue
            packets += 1
            corrupt += packet.is_corrupt
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is not None and packet.stream.type in ("video", "audio"):
                t = float((ts + (packet.duration or 0)) * packet.time_base) - origin
                end = max(end, t)
            if packet.stream is not video:
                continue
            if ts is not None:
                video_pts.append(ts)
            keyframe.feed(packet)
            if rotation is None and tried < _DECODE_BUDGET:
                tried += 1
                rotation = _first_frame_rotation(packet)
        if rotation is None:
            rotation = _flush_rotation(video)
    except av.error.FFmpegError as exc:
        log.info("demux failed after %d packets: %s", packets, exc)
        raise InvalidMedia(TRUNCATED) from exc
    if not video_pts:
        raise InvalidMedia("the video stream has no frames")
    if rotation is None:
        raise InvalidMedia("the video stream could not be decoded; " + TRUNCATED)
    if corrupt > max(1, packets // 100):
        raise InvalidMedia(TRUNCATED)
    return end, rotation, _timing_varies(video_pts), len(video_pts), keyframe.clean


class _KeyframeCheck:
    """Decode the first keyframe on its own, with ``err_detect=explode``: a header that claims a
    bigger picture than the keyframe's data fills (a patched H.264 SPS) fails right there, where
    the ordinary decoder would conceal the missing picture and carry on. Frames before the first
    keyframe are skipped (a capture may start mid-GOP), and so is everything after it. Cheap:
    one frame, one thread. A codec that cannot be set up this way is not checked."""

    def __init__(self, video: av.video.stream.VideoStream) -> None:
        self.clean = True
        self.done = False
        try:
            ctx = av.codec.CodecContext.create(video.codec_context.name, "r")
            ctx.extradata = video.codec_context.extradata
            ctx.thread_count = 1
            ctx.options = {"err_detect": "explode"}
        except (av.error.FFmpegError, ValueError, TypeError):
            ctx = None
        self.ctx = ctx if isinstance(ctx, av.VideoCodecContext) else None

    def feed(self, packet: av.packet.Packet[Any]) -> None:
        if self.done or self.ctx is None or not packet.is_keyframe:
            return
        self.done = True
        try:
            self.ctx.decode(packet)
        except av.error.FFmpegError as exc:
            log.info("the first keyframe does not decode cleanly: %s", exc)
            self.clean = False
        finally:
            self.ctx = None


def _first_frame_rotation(packet: av.packet.Packet[Any]) -> int | None:
    try:
        frames = packet.decode()
    except av.error.FFmpegError:
        return None
    return int(frames[0].rotation) if frames else None


def _flush_rotation(video: av.video.stream.VideoStream) -> int | None:
    try:
        frames = video.codec_context.decode(None)
    except av.error.FFmpegError:
        return None
    return int(frames[0].rotation) if frames else None


def _timing_varies(pts: list[int]) -> bool:
    """More than 5 % of frame intervals differ from the typical one by over 10 %."""
    ordered = sorted(set(pts))
    deltas = [b - a for a, b in itertools.pairwise(ordered)]
    if len(deltas) < 10:
        return False
    typical = statistics.median(deltas)
    if typical <= 0:
        return False
    odd = sum(1 for d in deltas if not math.isclose(d, typical, rel_tol=0.1))
    return odd > 0.05 * len(deltas)


async def probe(path: Path, limits: ProbeLimits) -> MediaInfo:
    """``probe_file`` in a worker thread (PyAV blocks)."""
    return await anyio.to_thread.run_sync(probe_file, path, limits)
