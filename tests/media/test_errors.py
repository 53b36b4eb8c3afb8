"""The reasons users read: ffmpeg's last stderr line, without the server's folders."""

from __future__ import annotations

from reelstream.media.errors import FFmpegFailed


def test_an_ffmpeg_failure_names_files_not_the_servers_folders() -> None:
    tail = (
        "[hls @ 0x5581] Opening 'x' for writing\n"
        "/var/lib/reelstream/work/12-1-abcdefabcdef/out/v720/seg_00001.m4s: "
        "No space left on device\n"
    )
    failed = FFmpegFailed(1, tail)
    assert failed.message == "ffmpeg exited with code 1: seg_00001.m4s: No space left on device"
    assert failed.stderr_tail == tail  # the whole tail stays for the logs


def test_other_reasons_are_kept_as_they_are() -> None:
    line = "[libx264 @ 0x55d1] height not divisible by 2 (1280x721)"
    assert FFmpegFailed(1, f"{line}\n").message == f"ffmpeg exited with code 1: {line}"
    assert FFmpegFailed(-9, "").message == "ffmpeg was killed by signal 9"
