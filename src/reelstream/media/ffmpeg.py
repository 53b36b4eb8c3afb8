"""The ffmpeg commands (built as argv lists, never through a shell) and the process runner.

One ffmpeg process decodes the source once and encodes every rung: ``split`` feeds one
``[fps,]scale`` chain per rung into libx264. Keyframes are forced on a fixed time grid
(``FFmpegOptions.gop_s``: the first frame of every ``gop_s`` cell, decided per frame from its time,
``keyframe_expr``) with scene-cut keyframes off, so every rung has its keyframes at the same
instants and segments of different rungs line up, and a chunk encoded apart
(``reelstream.media.chunks``) cuts where a single pass does. Audio is encoded once to AAC
stereo 48 kHz as its own rendition. The HLS muxer writes CMAF (fMP4) segments, one folder per
rendition::

    out/v240/index.m3u8  out/v240/init_0.mp4  out/v240/seg_00001.m4s ...
    out/audio/index.m3u8 out/audio/init_N.mp4 out/audio/seg_00001.m4s ...

A last ``split`` branch (``fps=1/N,scale``) writes the storyboard thumbnails as JPEG
(``out/storyboard/th_00001.jpg``...), so thumbnails cost no second decode of the source;
``build_tile_argv`` then tiles them into sprite sheets (see ``reelstream.media.storyboard``).

The master playlist and the MPD are written by ``reelstream.media.hls`` and ``dash``, not
by ffmpeg.

``build_ladder_argv`` is the exact command a transcode runs; benchmarks use it to run the same
command bare.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import math
import os
import signal
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from reelstream.media.errors import FFmpegFailed, FFmpegTimeout
from reelstream.media.ladder import RungPlan, plan_ladder
from reelstream.media.options import FFmpegOptions
from reelstream.media.probe import Container, MediaInfo, input_args, probe_file, sniff_file
from reelstream.media.storyboard import FOLDER as STORYBOARD_FOLDER
from reelstream.media.storyboard import (
    JPEG_QUALITY,
    SHEET_PATTERN,
    THUMB_PATTERN,
    THUMB_QUALITY,
    StoryboardPlan,
    plan_storyboard,
)

log = logging.getLogger(__name__)

AUDIO_NAME = "audio"
SEGMENT_PATTERN = "seg_%05d.m4s"
PLAYLIST_NAME = "index.m3u8"
STDERR_TAIL_BYTES = 4000


def ffmpeg_binary(options: FFmpegOptions) -> str:
    if options.path:
        return options.path
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _rate(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}" if fps.denominator != 1 else str(fps.numerator)


def filter_graph(rungs: list[RungPlan], storyboard: StoryboardPlan | None = None) -> str:
    """``split`` the decoded video once, then one ``[fps,]scale`` chain per rung (and one
    ``fps,scale,tile`` chain for the storyboard sheets, labelled ``[sb]``)."""
    chains = []
    for i, rung in enumerate(rungs):
        steps = [f"fps={_rate(rung.fps)}"] if rung.resample_fps else []
        steps += [f"scale=w={rung.width}:h={rung.height}", "format=yuv420p", "setsar=1"]
        chains.append(f"[s{i}]{','.join(steps)}[v{i}]")
    if storyboard is not None:
        chains.append(f"[s{len(rungs)}]{storyboard.filter_chain()}[sb]")
    if len(chains) == 1:
        return chains[0].replace("[s0]", "[0:v:0]", 1)
    labels = "".join(f"[s{i}]" for i in range(len(chains)))
    return f"[0:v:0]split={len(chains)}{labels};" + ";".join(chains)


def var_stream_map(rungs: list[RungPlan], has_audio: bool) -> str:
    parts = [f"v:{i},name:{rung.name}" for i, rung in enumerate(rungs)]
    if has_audio:
        parts.append(f"a:0,name:{AUDIO_NAME}")
    return " ".join(parts)


def build_ladder_argv(
    options: FFmpegOptions,
    source: Path,
    out_dir: Path,
    *,
    container: Container | None = None,
    info: MediaInfo | None = None,
    rungs: list[RungPlan] | None = None,
    storyboard: StoryboardPlan | None = None,
    with_audio: bool = True,
    growing: bool = False,
) -> list[str]:
    """The one ffmpeg command that encodes and packages the whole ladder, and writes the
    storyboard sheets into ``out_dir/storyboard/`` when ``storyboard`` is given (that folder
    must exist). ``with_audio=False`` leaves the audio rendition out (a rendition encoded on
    its own: same keyframe grid, same segmenting, so it lines up with the others).
    ``growing=True`` writes EVENT playlists that list each segment once it is complete (the
    lead encode a rev is published from while the rest of the ladder is made).

    With only ``options``, ``source`` and ``out_dir`` it probes the source itself (blocking),
    which is what a benchmark wants: the identical command a worker would run.
    """
    if info is None:
        info = probe_file(source, options.limits)
    if container is None:
        container = sniff_file(source, options.limits)
    if rungs is None:
        rungs = plan_ladder(options.ladder, info.width, info.height, info.fps, vfr=info.vfr)
    audio = info.has_audio and with_audio
    argv = [ffmpeg_binary(options), "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    argv += ["-nostats", "-progress", "pipe:1"]
    argv += input_args(container, source)
    argv += ["-filter_complex", filter_graph(rungs, storyboard)]
    for i in range(len(rungs)):
        argv += ["-map", f"[v{i}]"]
    if audio:
        argv += ["-map", "0:a:0"]
    argv += ["-map_metadata", "-1", "-map_chapters", "-1"]
    argv += video_codec_args(options, rungs)
    if audio:
        argv += audio_codec_args(options)
    if options.threads:
        argv += ["-threads", str(options.threads)]
    argv += hls_output_args(options, out_dir, var_stream_map(rungs, audio), growing=growing)
    if storyboard is not None:
        argv += ["-map", "[sb]", "-c:v", "mjpeg", "-q:v", str(THUMB_QUALITY)]
        argv += ["-f", "image2", "-start_number", "1"]
        argv += [str(out_dir / STORYBOARD_FOLDER / THUMB_PATTERN)]
    return argv


def keyframe_expr(gop_s: int, fps: Fraction, first_frame: int = 0) -> str:
    """``-force_key_frames`` of one rung: a keyframe on the first frame of the encode and on the
    first frame of every later ``gop_s`` cell of the video's timeline.

    ffmpeg's ``t`` counts from the first frame the encoder sees, so a chunk whose first frame
    is frame ``first_frame`` of the rung (``reelstream.media.chunks``) adds that frame's time.
    It depends on ``t`` only, never on how many keyframes came before, so a chunk and a single
    pass force keyframes on the very same frames. ``eps`` (half of ``1/fps.numerator``, the
    least distance between a frame and a grid point it is not on) absorbs floating-point error.
    """
    t0 = repr(float(first_frame / fps)) if first_frame else "0"
    eps = repr(1 / (2 * fps.numerator))
    cell = f"floor((t+{t0}+{eps})/{gop_s})"
    prev = f"floor((prev_forced_t+{t0}+{eps})/{gop_s})"
    return f"expr:if(eq(n_forced,0),1,gt({cell},{prev}))"


def video_codec_args(
    options: FFmpegOptions, rungs: list[RungPlan], first_frames: list[int] | None = None
) -> list[str]:
    """libx264 for every rung: its rates, fixed GOPs on the keyframe grid, no scene cuts.
    ``first_frames``: per rung, the number of the first frame encoded (a chunk's)."""
    gop = options.gop_s
    argv = ["-c:v", "libx264", "-preset", options.x264_preset, "-profile:v", "high"]
    argv += ["-sc_threshold", "0", "-forced-idr", "1"]
    for i, rung in enumerate(rungs):
        first = first_frames[i] if first_frames else 0
        argv += [
            f"-force_key_frames:v:{i}",
            keyframe_expr(gop, rung.fps, first),
            f"-b:v:{i}",
            f"{rung.video_kbps}k",
            f"-maxrate:v:{i}",
            f"{rung.maxrate_kbps}k",
            f"-bufsize:v:{i}",
            f"{rung.bufsize_kbps}k",
            f"-g:v:{i}",
            str(math.ceil(rung.fps * gop)),
        ]
    return argv


def audio_codec_args(options: FFmpegOptions) -> list[str]:
    return ["-c:a", "aac", "-b:a", f"{options.audio_kbps}k", "-ac", "2", "-ar", "48000"]


def hls_output_args(
    options: FFmpegOptions,
    out_dir: Path,
    stream_map: str,
    *,
    growing: bool = False,
    hls_time: float | None = None,
    segment_pattern: str = SEGMENT_PATTERN,
    playlist_name: str = PLAYLIST_NAME,
) -> list[str]:
    """The HLS muxer writing CMAF segments, one folder per rendition (``out_dir/%v/``).
    ``hls_time`` defaults to ``options.segment_s`` (chunks cut every keyframe instead).
    ``growing``: an EVENT playlist rewritten after each segment; with ``temp_file`` a segment
    and the playlist appear under their names only once complete (renamed)."""
    return [
        "-f",
        "hls",
        "-hls_time",
        f"{hls_time:g}" if hls_time is not None else str(options.segment_s),
        "-hls_playlist_type",
        "event" if growing else "vod",
        "-hls_list_size",
        "0",
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_flags",
        "independent_segments+temp_file" if growing else "independent_segments",
        "-start_number",
        "1",
        "-hls_segment_filename",
        str(out_dir / "%v" / segment_pattern),
        "-var_stream_map",
        stream_map,
        str(out_dir / "%v" / playlist_name),
    ]


def build_audio_argv(
    options: FFmpegOptions, source: Path, out_dir: Path, *, container: Container
) -> list[str]:
    """The audio rendition on its own (``out_dir/audio/``), as the ladder command makes it."""
    argv = [ffmpeg_binary(options), "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    argv += ["-nostats", "-progress", "pipe:1"]
    argv += input_args(container, source)
    argv += ["-map", "0:a:0", "-map_metadata", "-1", "-map_chapters", "-1"]
    argv += audio_codec_args(options)
    argv += hls_output_args(options, out_dir, f"a:0,name:{AUDIO_NAME}")
    return argv


def build_thumbs_argv(
    options: FFmpegOptions,
    source: Path,
    out_dir: Path,
    *,
    container: Container,
    storyboard: StoryboardPlan,
) -> list[str]:
    """The storyboard thumbnails on their own (``out_dir/storyboard/th_%05d.jpg``), for when
    they cannot ride on the ladder command (renditions encoded one by one)."""
    argv = [ffmpeg_binary(options), "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    argv += input_args(container, source)
    argv += ["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", storyboard.filter_chain()]
    argv += ["-c:v", "mjpeg", "-q:v", str(THUMB_QUALITY), "-f", "image2", "-start_number", "1"]
    argv += [str(out_dir / STORYBOARD_FOLDER / THUMB_PATTERN)]
    return argv


def build_tile_argv(options: FFmpegOptions, folder: Path, plan: StoryboardPlan) -> list[str]:
    """Tile the thumbnails in ``folder`` (``th_%05d.jpg``) into sprite sheets (``sb_%03d.jpg``);
    the last sheet may be partly empty."""
    argv = [ffmpeg_binary(options), "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    argv += ["-f", "image2", "-protocol_whitelist", "file", "-framerate", "1"]
    argv += ["-start_number", "1", "-i", str(folder / THUMB_PATTERN)]
    argv += ["-vf", plan.tile_filter, "-c:v", "mjpeg", "-q:v", str(JPEG_QUALITY)]
    argv += ["-f", "image2", "-start_number", "1", str(folder / SHEET_PATTERN)]
    return argv


def storyboard_for(info: MediaInfo, rungs: list[RungPlan]) -> StoryboardPlan:
    """The storyboard plan of a source whose ladder is ``rungs`` (the top rung's aspect)."""
    top = rungs[-1]
    return plan_storyboard(info.duration_s, top.width, top.height)


def bare_ladder_command(
    source: Path, out_dir: Path, options: FFmpegOptions, *, storyboard: bool = True
) -> list[str]:
    """The exact ladder command a worker runs for ``source`` (probes it, makes the
    storyboard folder; blocking). ``storyboard=False`` leaves the storyboard branch out."""
    info = probe_file(source, options.limits)
    rungs = plan_ladder(options.ladder, info.width, info.height, info.fps, vfr=info.vfr)
    plan = storyboard_for(info, rungs) if storyboard else None
    if plan is not None:
        (out_dir / STORYBOARD_FOLDER).mkdir(parents=True, exist_ok=True)
    return build_ladder_argv(options, source, out_dir, info=info, rungs=rungs, storyboard=plan)


def poster_time(options: FFmpegOptions, duration_s: float) -> float:
    """``options.poster_at_s``, moved inside short videos."""
    at = options.poster_at_s
    if at < duration_s - 0.25:
        return at
    return max(0.0, duration_s / 2)


def build_poster_argv(
    options: FFmpegOptions,
    container: Container,
    source: Path,
    dest: Path,
    *,
    at_s: float,
    width: int,
    height: int,
) -> list[str]:
    argv = [ffmpeg_binary(options), "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    argv += ["-ss", f"{at_s:.3f}", *input_args(container, source)]
    argv += ["-map", "0:v:0", "-frames:v", "1", "-an", "-sn", "-dn"]
    argv += ["-vf", f"scale=w={width}:h={height},setsar=1", "-q:v", "3"]
    argv += ["-update", "1", "-f", "image2", str(dest)]
    return argv


# -- running ffmpeg


def _load_prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return fn


_PRCTL = _load_prctl()  # resolved before any fork: the child must not call dlopen
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int, nice: int = 0) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the kernel SIGKILL ffmpeg when its parent dies (and lowers
    its CPU priority by ``nice``).

    The signal follows the forking *thread*; ffmpeg is started from the event-loop thread,
    which lives as long as the worker.
    """

    def preexec() -> None:
        if nice:
            os.nice(nice)
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - STDERR_TAIL_BYTES))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(Exception):
        await proc.wait()


async def run_ffmpeg(
    argv: list[str],
    *,
    timeout_s: float,
    stderr_path: Path,
    on_progress: Callable[[float], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    nice: int = 0,
) -> None:
    """Run ffmpeg to completion; report ``out_time`` seconds from ``-progress pipe:1``.
    ``nice`` lowers its CPU priority (work that must not slow down a more urgent encode).

    On timeout or cancellation the process is killed (that PID) before this returns. Raises
    ``FFmpegFailed`` (non-zero exit, with the tail of stderr) or ``FFmpegTimeout``; the tail
    of stderr is logged here for operators, the errors' messages never quote it.
    """
    with stderr_path.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            preexec_fn=_die_with_parent(os.getpid(), nice),
        )
    if on_start is not None:
        on_start(proc.pid)
    try:
        async with asyncio.timeout(timeout_s):
            assert proc.stdout is not None
            async for raw in proc.stdout:
                key, _, value = raw.decode("ascii", "replace").strip().partition("=")
                if key == "out_time_us" and on_progress is not None and value.isdigit():
                    on_progress(int(value) / 1_000_000)
            rc = await proc.wait()
    except TimeoutError:
        await _kill(proc)
        tail = _tail(stderr_path)
        log.warning("ffmpeg ran past %g s and was killed: %s", timeout_s, tail[-1000:])
        raise FFmpegTimeout(timeout_s, tail) from None
    except BaseException:
        await _kill(proc)
        raise
    if rc != 0:
        tail = _tail(stderr_path)
        log.warning("ffmpeg exited with %s: %s", rc, tail[-1000:])
        raise FFmpegFailed(rc, tail)
