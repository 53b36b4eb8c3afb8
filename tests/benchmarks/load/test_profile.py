"""The offered load over time: steady, and the 10x spike with its phases."""

from __future__ import annotations

import pytest
from benchmarks.load.profile import Profile


def test_steady_is_flat_with_one_phase() -> None:
    p = Profile("steady", duration_s=5)
    assert p.total_s == 5
    assert [ph.name for ph in p.phases()] == ["steady"]
    assert all(p.multiplier(t) == 1 for t in (0, 2.5, 4.99))
    assert p.peak == 1


def test_spike_ramps_to_10x_in_10s_holds_then_drops_back() -> None:
    p = Profile("spike", baseline_s=30, ramp_s=10, hold_s=60, recovery_s=20, factor=10)
    assert p.total_s == 120
    assert p.multiplier(0) == 1 and p.multiplier(29.9) == 1
    assert p.multiplier(30) == pytest.approx(1)
    assert p.multiplier(35) == pytest.approx(5.5)
    assert p.multiplier(40) == 10 and p.multiplier(99.9) == 10
    assert p.multiplier(100) == 1 and p.multiplier(119) == 1
    assert [(ph.name, ph.start_s, ph.end_s) for ph in p.phases()] == [
        ("before", 0, 30),
        ("during", 30, 100),
        ("after", 100, 120),
    ]
    assert p.phase_at(10) == "before" and p.phase_at(50) == "during"
    assert p.phase_at(110) == "after" and p.phase_at(500) == "after"


def test_a_ramp_of_zero_jumps_at_once() -> None:
    p = Profile("spike", baseline_s=1, ramp_s=0, hold_s=2, recovery_s=1, factor=10)
    assert p.multiplier(1) == 10


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "burst"}, {"kind": "spike", "factor": 0.5}, {"kind": "steady", "hold_s": -1}],
)
def test_bad_profiles_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"profile|factor|negative"):
        Profile(**kwargs)  # type: ignore[arg-type]
