"""The player's buffer model, on a clock the test drives."""

from __future__ import annotations

import pytest
from benchmarks.load.buffer import BufferModel


def test_playback_starts_after_two_segments() -> None:
    b = BufferModel(start_at=10.0)
    b.add_segment(10.5, 4.0)
    assert not b.started and not b.playing
    b.add_segment(11.25, 4.0)
    assert b.started and b.playing
    assert b.startup_s == pytest.approx(1.25)
    assert b.buffered_s == pytest.approx(8.0)


def test_playback_drains_the_buffer_in_wall_time() -> None:
    b = BufferModel(start_at=0.0)
    b.add_segment(0.0, 4.0)
    b.add_segment(1.0, 4.0)
    b.advance(4.0)
    assert b.play_s == pytest.approx(3.0)
    assert b.buffered_s == pytest.approx(5.0)
    assert b.wait_s(2.0) == pytest.approx(3.0)
    assert b.stalls == 0


def test_an_empty_buffer_is_a_stall_until_the_next_segment() -> None:
    b = BufferModel(start_at=0.0)
    b.add_segment(0.0, 2.0)
    b.add_segment(0.0, 2.0)  # playing from 0 with 4 s
    b.advance(6.0)  # ran dry at 4.0
    assert b.stalls == 1 and b.stalled and not b.playing
    assert b.play_s == pytest.approx(4.0)
    b.add_segment(7.0, 2.0)  # resumes: stalled from 4.0 to 7.0
    assert not b.stalled and b.playing
    assert b.stall_s == pytest.approx(3.0)
    b.close(8.0)
    assert b.play_s == pytest.approx(5.0)
    assert b.rebuffer_ratio == pytest.approx(3.0 / 8.0)


def test_a_viewer_leaving_mid_stall_counts_the_stall_so_far() -> None:
    b = BufferModel(start_at=0.0)
    b.add_segment(0.0, 1.0)
    b.add_segment(0.0, 1.0)
    b.close(5.0)  # dry at 2.0, still stalled when leaving
    assert b.stalls == 1
    assert b.stall_s == pytest.approx(3.0)
    assert b.rebuffer_ratio == pytest.approx(3.0 / 5.0)


def test_running_out_after_the_last_segment_is_the_end_not_a_stall() -> None:
    b = BufferModel(start_at=0.0)
    b.add_segment(0.5, 4.0)
    b.add_segment(1.0, 4.0)
    b.mark_complete(1.0)
    b.advance(20.0)
    assert b.finished and b.stalls == 0 and b.stall_s == 0
    assert b.play_s == pytest.approx(8.0)
    assert b.rebuffer_ratio == 0


def test_a_one_segment_video_starts_when_it_is_complete() -> None:
    b = BufferModel(start_at=0.0)
    b.add_segment(0.3, 3.0)
    assert not b.started
    b.mark_complete(0.3)
    assert b.startup_s == pytest.approx(0.3) and b.playing
