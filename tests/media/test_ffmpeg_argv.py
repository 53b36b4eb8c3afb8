from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from reelstream.config import Settings
from reelstream.media.ffmpeg import (
    bare_ladder_command,
    build_ladder_argv,
    build_poster_argv,
    build_tile_argv,
    ffmpeg_binary,
    filter_graph,
    poster_time,
    storyboard_for,
)
from reelstream.media.ladder import plan_ladder
from reelstream.media.probe import MATROSKA, MOV, MediaInfo, probe_file
from reelstream.processing.options import ffmpeg_options, probe_limits


def info(*, has_audio: bool = True, width: int = 1920, height: int = 1080) -> MediaInfo:
    return MediaInfo(
        container=MOV.family,
        demuxer=MOV.demuxer,
        duration_s=60.0,
        width=width,
        height=height,
        coded_width=width,
        coded_height=height,
        rotation=0,
        fps=Fraction(60),
        vfr=False,
        video_codec="h264",
        pix_fmt="yuv420p",
        has_audio=has_audio,
    )


def value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.fixture
def s(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None)


def test_ladder_argv(s: Settings, tmp_path: Path) -> None:
    src = tmp_path / "in put.mp4"  # a space: fine, there is no shell
    meta = info()
    rungs = plan_ladder(s.ladder, meta.width, meta.height, meta.fps)
    argv = build_ladder_argv(
        ffmpeg_options(s), src, tmp_path / "out", container=MOV, info=meta, rungs=rungs
    )
    assert all(isinstance(a, str) for a in argv)
    assert argv[0] == ffmpeg_binary(ffmpeg_options(s))
    for flag in ("-nostdin", "-y"):
        assert flag in argv
    assert value(argv, "-progress") == "pipe:1"
    # the input is opened with an explicit demuxer, file protocol only, no data references
    i = argv.index("-i")
    assert argv[i + 1] == f"file:{src.resolve()}"
    before_input = argv[:i]
    assert value(before_input, "-f") == "mov"
    assert value(before_input, "-protocol_whitelist") == "file"
    assert value(before_input, "-format_whitelist") == MOV.family
    assert value(before_input, "-enable_drefs") == "0"
    # fixed, aligned GOPs and no scene-cut keyframes
    g, eps = s.gop_s, repr(1 / 60)  # rung 0 is capped at 30 fps
    assert value(argv, "-force_key_frames:v:0") == (
        f"expr:if(eq(n_forced,0),1,gt(floor((t+0+{eps})/{g}),floor((prev_forced_t+0+{eps})/{g})))"
    )
    assert value(argv, "-sc_threshold") == "0"
    assert value(argv, "-c:v") == "libx264"
    assert value(argv, "-preset") == s.x264_preset
    # one decode, one split, one scale chain per rung; low rungs capped at 30 fps
    graph = value(argv, "-filter_complex")
    assert graph.startswith("[0:v:0]split=5[s0][s1][s2][s3][s4];")
    assert graph.count("scale=") == 5 and graph.count("fps=30") == 3
    assert "scale=w=426:h=240" in graph and "scale=w=1920:h=1080" in graph
    for n, rung in enumerate(rungs):
        assert value(argv, f"-b:v:{n}") == f"{rung.video_kbps}k"
        assert value(argv, f"-maxrate:v:{n}") == f"{rung.maxrate_kbps}k"
        assert value(argv, f"-bufsize:v:{n}") == f"{rung.bufsize_kbps}k"
        assert int(value(argv, f"-g:v:{n}")) == rung.fps * s.gop_s
        assert value(argv, f"-force_key_frames:v:{n}").startswith("expr:if(eq(n_forced,0),1,")
        assert f"[v{n}]" in argv
    # audio once, as its own rendition
    assert "0:a:0" in argv and value(argv, "-c:a") == "aac"
    assert value(argv, "-b:a") == f"{s.audio_kbps}k"
    assert value(argv, "-ac") == "2" and value(argv, "-ar") == "48000"
    assert value(argv, "-var_stream_map") == (
        "v:0,name:v240 v:1,name:v360 v:2,name:v480 v:3,name:v720 v:4,name:v1080 a:0,name:audio"
    )
    # CMAF HLS
    assert value(argv, "-hls_segment_type") == "fmp4"
    assert value(argv, "-hls_time") == str(s.segment_s)
    assert value(argv, "-hls_playlist_type") == "vod"
    assert value(argv, "-hls_flags") == "independent_segments"
    assert argv[-1] == str(tmp_path / "out" / "%v" / "index.m3u8")


def test_audio_less_and_other_containers(s: Settings, tmp_path: Path) -> None:
    meta = info(has_audio=False, width=640, height=360)
    argv = build_ladder_argv(
        ffmpeg_options(s), tmp_path / "a.mkv", tmp_path / "o", container=MATROSKA, info=meta
    )
    assert "0:a:0" not in argv and "-c:a" not in argv
    assert value(argv, "-var_stream_map") == "v:0,name:v240 v:1,name:v360"
    assert value(argv, "-f") == "matroska"
    assert "-enable_drefs" not in argv  # a mov-only option; ffmpeg would refuse it here


def test_threads_setting(s: Settings, tmp_path: Path) -> None:
    s.ffmpeg_threads = 3
    argv = build_ladder_argv(
        ffmpeg_options(s), tmp_path / "a.mp4", tmp_path / "o", container=MOV, info=info()
    )
    assert value(argv, "-threads") == "3"


def test_single_rung_graph_has_no_split() -> None:
    rungs = plan_ladder(Settings(_env_file=None).ladder, 160, 90, Fraction(30))
    assert filter_graph(rungs) == "[0:v:0]scale=w=160:h=90,format=yuv420p,setsar=1[v0]"


def test_bare_command_is_the_worker_command(s: Settings, clip4: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = bare_ladder_command(clip4, out, ffmpeg_options(s))
    probed = probe_file(clip4, probe_limits(s))
    rungs = plan_ladder(s.ladder, probed.width, probed.height, probed.fps, vfr=probed.vfr)
    worker = build_ladder_argv(
        ffmpeg_options(s), clip4, out, storyboard=storyboard_for(probed, rungs)
    )
    assert argv == worker
    graph = value(argv, "-filter_complex")
    assert graph.startswith("[0:v:0]split=3")  # 240 + 360 for a 360p clip, + the storyboard
    assert "0:a:0" in argv
    assert (out / "storyboard").is_dir()  # the image2 muxer needs the folder
    assert bare_ladder_command(
        clip4, out, ffmpeg_options(s), storyboard=False
    ) == build_ladder_argv(ffmpeg_options(s), clip4, out)


def test_storyboard_branch(s: Settings, tmp_path: Path) -> None:
    media = info(width=1280, height=720)  # 60 s
    rungs = plan_ladder(s.ladder, 1280, 720, Fraction(30))
    plan = storyboard_for(media, rungs)
    argv = build_ladder_argv(
        ffmpeg_options(s),
        tmp_path / "a.mp4",
        tmp_path / "o",
        container=MOV,
        info=media,
        rungs=rungs,
        storyboard=plan,
    )
    graph = value(argv, "-filter_complex")
    assert graph.startswith(f"[0:v:0]split={len(rungs) + 1}")
    assert graph.endswith(
        f"[s{len(rungs)}]fps=fps=1/1:round=down:eof_action=pass,scale=w=160:h=90,setsar=1,format=yuvj420p[sb]"
    )
    assert plan.tile_filter == "tile=10x6"  # 60 thumbnails on one sheet
    # a second output after the HLS one: the sheets as JPEG files
    hls_at = argv.index(str(tmp_path / "o" / "%v" / "index.m3u8"))
    tail = argv[hls_at + 1 :]
    assert tail[:4] == ["-map", "[sb]", "-c:v", "mjpeg"]
    assert tail[-1] == str(tmp_path / "o" / "storyboard" / "th_%05d.jpg")
    assert argv.index("hls") < hls_at and argv[argv.index("hls") - 1] == "-f"  # ladder first
    tile = build_tile_argv(ffmpeg_options(s), tmp_path / "o" / "storyboard", plan)
    assert value(tile, "-i") == str(tmp_path / "o" / "storyboard" / "th_%05d.jpg")
    assert value(tile, "-vf") == "tile=10x6" and value(tile, "-protocol_whitelist") == "file"
    assert tile[-1] == str(tmp_path / "o" / "storyboard" / "sb_%03d.jpg")


def test_poster(s: Settings, tmp_path: Path) -> None:
    argv = build_poster_argv(
        ffmpeg_options(s),
        MOV,
        tmp_path / "a.mp4",
        tmp_path / "p.jpg",
        at_s=1.5,
        width=640,
        height=360,
    )
    assert value(argv, "-ss") == "1.500"
    assert value(argv, "-protocol_whitelist") == "file"
    assert value(argv, "-frames:v") == "1"
    assert argv[-1] == str(tmp_path / "p.jpg")
    assert poster_time(ffmpeg_options(s), 60) == s.poster_at_s
    assert poster_time(ffmpeg_options(s), 0.8) == pytest.approx(0.4)
