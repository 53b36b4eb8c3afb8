"""A small MPEG-TS whose H.264 header lies about its picture (issue 9, defect 7d).

``lying_ts`` encodes a tiny clip (64x64, baseline profile: the simplest sequence parameter set),
rewrites the picture size in its SPS to a huge one (4320x7680 by default) and remuxes it into
MPEG-TS without re-encoding: a file of a few KB that every demuxer reports as 4320x7680, while
its slices hold 16 macroblocks each. Made at test time with ffmpeg, never committed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import FFMPEG


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            bit = (self.data[self.pos // 8] >> (7 - self.pos % 8)) & 1
            value, self.pos = (value << 1) | bit, self.pos + 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)


class _Writer:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int) -> None:
        value += 1
        self.u(value.bit_length() - 1, 0)
        self.u(value.bit_length(), value)

    def to_bytes(self) -> bytes:
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def _unescape(data: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in data:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _escape(data: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in data:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def patch_sps(nal: bytes, width: int, height: int) -> bytes:
    """A baseline-profile SPS NAL unit with its picture size replaced (cropping dropped)."""
    r, w = _Reader(_unescape(nal[1:])), _Writer()
    for _ in range(3):  # profile_idc, constraint flags, level_idc
        w.u(8, r.u(8))
    w.ue(r.ue())  # seq_parameter_set_id
    w.ue(r.ue())  # log2_max_frame_num_minus4
    poc_type = r.ue()
    w.ue(poc_type)
    assert poc_type in (0, 2), poc_type
    if poc_type == 0:
        w.ue(r.ue())  # log2_max_pic_order_cnt_lsb_minus4
    w.ue(r.ue())  # max_num_ref_frames
    w.u(1, r.u(1))  # gaps_in_frame_num_value_allowed_flag
    r.ue()
    r.ue()
    w.ue(width // 16 - 1)  # pic_width_in_mbs_minus1
    w.ue(height // 16 - 1)  # pic_height_in_map_units_minus1
    frame_mbs_only = r.u(1)
    assert frame_mbs_only == 1
    w.u(1, frame_mbs_only)
    w.u(1, r.u(1))  # direct_8x8_inference_flag
    if r.u(1):  # frame_cropping_flag: the crop of the real size means nothing now
        for _ in range(4):
            r.ue()
    w.u(1, 0)
    while r.pos < len(r.data) * 8:  # the VUI and the trailing bits, as they were
        w.u(1, r.u(1))
    return nal[:1] + _escape(w.to_bytes())


def lying_ts(
    path: Path,
    *,
    width: int = 4320,
    height: int = 7680,
    seconds: float = 1,
    source: str = "testsrc=size=64x64",
) -> Path:
    """Write the lying MPEG-TS to ``path`` (about 10 KB from the default 64x64 source; a
    busier ``source`` makes a bigger file, whose size alone would not give the lie away)."""
    es = path.with_suffix(".264")
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"{source}:rate=25:duration={seconds}",
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-pix_fmt",
            "yuv420p",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            str(es),
        ],
        check=True,
        timeout=60,
    )
    units = es.read_bytes().split(b"\x00\x00\x01")
    patched = []
    for unit in units:
        if unit and unit[0] & 0x1F == 7:  # a sequence parameter set
            body = unit.rstrip(b"\x00")
            unit = patch_sps(body, width, height) + unit[len(body) :]
        patched.append(unit)
    es.write_bytes(b"\x00\x00\x01".join(patched))
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "h264",
            "-framerate",
            "25",
            "-i",
            f"file:{es}",
            "-c",
            "copy",
            "-f",
            "mpegts",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    es.unlink()
    return path
