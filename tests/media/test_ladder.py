from __future__ import annotations

from fractions import Fraction

import pytest

from reelstream.config import DEFAULT_LADDER, Rung
from reelstream.media.ladder import RungPlan, capped_fps, even, plan_ladder


def sizes(plans: list[RungPlan]) -> list[tuple[int, int]]:
    return [(p.width, p.height) for p in plans]


def test_landscape_1080p_gets_every_rung() -> None:
    plans = plan_ladder(DEFAULT_LADDER, 1920, 1080, Fraction(30))
    assert [p.name for p in plans] == ["v240", "v360", "v480", "v720", "v1080"]
    assert sizes(plans) == [(426, 240), (640, 360), (854, 480), (1280, 720), (1920, 1080)]
    assert [p.video_kbps for p in plans] == [r.video_kbps for r in DEFAULT_LADDER]
    assert all(p.maxrate_kbps > p.video_kbps and p.bufsize_kbps >= p.video_kbps for p in plans)
    assert not any(p.resample_fps for p in plans)
    assert plans[0].playlist == "v240/index.m3u8"


def test_no_upscaling() -> None:
    plans = plan_ladder(DEFAULT_LADDER, 1280, 720, Fraction(30))
    assert [p.height for p in plans] == [240, 360, 480, 720]
    plans = plan_ladder(DEFAULT_LADDER, 1000, 700, Fraction(30))
    assert max(p.height for p in plans) == 480


def test_portrait_applies_rungs_to_the_short_side() -> None:
    plans = plan_ladder(DEFAULT_LADDER, 1080, 1920, Fraction(30))
    assert [p.name for p in plans] == ["v240", "v360", "v480", "v720", "v1080"]
    assert sizes(plans) == [(240, 426), (360, 640), (480, 854), (720, 1280), (1080, 1920)]
    assert all(p.height > p.width for p in plans)


@pytest.mark.parametrize(
    ("w", "h"), [(641, 359), (359, 641), (1919, 1079), (853, 481), (1000, 563), (999, 999)]
)
def test_odd_sources_give_even_sizes_with_the_same_aspect(w: int, h: int) -> None:
    plans = plan_ladder(DEFAULT_LADDER, w, h, Fraction(25))
    assert plans
    for p in plans:
        assert p.width % 2 == 0 and p.height % 2 == 0
        assert min(p.width, p.height) <= min(w, h)
        # aspect ratio within the rounding of one even step
        assert abs(p.width / p.height - w / h) <= 2.0 / min(p.width, p.height)


def test_641x359_gets_one_even_rung() -> None:
    assert sizes(plan_ladder(DEFAULT_LADDER, 641, 359, Fraction(30))) == [(428, 240)]


@pytest.mark.parametrize(
    ("w", "h", "expected"), [(160, 90, (160, 90)), (101, 75, (100, 74)), (90, 160, (90, 160))]
)
def test_tiny_source_gets_one_rung_at_its_own_size(
    w: int, h: int, expected: tuple[int, int]
) -> None:
    plans = plan_ladder(DEFAULT_LADDER, w, h, Fraction(30))
    assert len(plans) == 1
    assert (plans[0].width, plans[0].height) == expected
    assert plans[0].name == f"v{min(expected)}"
    assert 100 <= plans[0].video_kbps <= DEFAULT_LADDER[0].video_kbps


def test_fps_is_capped_per_rung() -> None:
    plans = plan_ladder(DEFAULT_LADDER, 1920, 1080, Fraction(60))
    assert [p.fps for p in plans] == [30, 30, 30, 60, 60]
    assert [p.resample_fps for p in plans] == [True, True, True, False, False]
    ntsc = plan_ladder(DEFAULT_LADDER, 1920, 1080, Fraction(60000, 1001))
    assert ntsc[0].fps == Fraction(30000, 1001)  # every other frame, not a 30 fps resample
    assert ntsc[-1].fps == Fraction(60000, 1001) and not ntsc[-1].resample_fps
    low = plan_ladder(DEFAULT_LADDER, 1280, 720, Fraction(25))
    assert all(p.fps == 25 and not p.resample_fps for p in low)


def test_capped_fps() -> None:
    assert capped_fps(Fraction(120), 30) == 30
    assert capped_fps(Fraction(50), 30) == 25
    assert capped_fps(Fraction(35), 30) == 30  # 17.5 would be too slow: use the cap
    assert capped_fps(Fraction(24), 30) == 24


def test_vfr_sources_are_resampled_to_constant_rate() -> None:
    plans = plan_ladder(DEFAULT_LADDER, 640, 360, Fraction(30), vfr=True)
    assert all(p.resample_fps and p.fps == 30 for p in plans)


def test_custom_ladder_with_odd_rung_heights() -> None:
    ladder = [Rung(height=361, video_kbps=900), Rung(height=145, video_kbps=200)]
    plans = plan_ladder(ladder, 1280, 720, Fraction(30))
    assert [p.name for p in plans] == ["v145", "v361"]
    assert all(p.width % 2 == 0 and p.height % 2 == 0 for p in plans)
    assert [p.height for p in plans] == [144, 360]


def test_even() -> None:
    assert [even(x) for x in (0.4, 1, 3, 426.67, 853.3)] == [2, 2, 4, 426, 854]
