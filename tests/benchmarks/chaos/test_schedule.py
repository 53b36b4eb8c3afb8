"""The chaos campaign's fault schedule: reproducible, overlapping within its bound, never two
faults on one target at once, inside the run, every required kind used."""

from __future__ import annotations

import pytest
from benchmarks.chaos.schedule import Fault, FaultKind, ScheduleSpec, schedule, summary

KINDS = [
    FaultKind("sigkill", ("api-1", "api-2", "origin-1", "worker-1")),
    FaultKind("sigstop", ("api-1", "origin-2", "postgres-primary")),
    FaultKind("net-latency", ("api-1>postgres", "origin-1>swift")),
    FaultKind("net-reset", ("edge>origin-1",)),
    FaultKind("net-blackhole", ("api-2>redis",)),
    FaultKind("disk-full", ("worker-1",)),
    FaultKind("store-errors", ("swift",)),
    FaultKind("sigkill-engine", ("redis", "memcached", "swift-object-1"), weight=0.5),
]
SPEC = ScheduleSpec(duration_s=600, rate_per_s=0.5, min_hold_s=1, max_hold_s=8, max_overlap=3)


def overlap_at(faults: list[Fault], t: float) -> list[Fault]:
    return [f for f in faults if f.start_s <= t < f.end_s]


def test_the_same_seed_gives_the_same_schedule() -> None:
    assert schedule(KINDS, SPEC, seed=7) == schedule(KINDS, SPEC, seed=7)
    assert schedule(KINDS, SPEC, seed=7) != schedule(KINDS, SPEC, seed=8)


@pytest.mark.parametrize("seed", range(5))
def test_faults_overlap_within_the_bound_and_never_on_one_target(seed: int) -> None:
    faults = schedule(KINDS, SPEC, seed=seed)
    assert len(faults) >= 100  # a long campaign: >= 100 faults
    assert len(summary(faults)) >= 8  # of >= 8 kinds
    starts = sorted(f.start_s for f in faults)
    assert starts == [f.start_s for f in faults]
    overlapped = False
    for f in faults:
        running = overlap_at(faults, f.start_s)
        assert len(running) <= SPEC.max_overlap
        assert len({r.target for r in running}) == len(running)  # one fault per target
        overlapped = overlapped or len(running) > 1
        assert 0 < f.start_s < f.end_s <= SPEC.duration_s
        assert SPEC.min_hold_s <= f.hold_s <= SPEC.max_hold_s + 0.001
    assert overlapped  # faults do come together


def test_required_kinds_come_first_and_counts_are_bounded() -> None:
    spec = ScheduleSpec(duration_s=60, rate_per_s=2, max_hold_s=2, min_kinds=8, max_faults=20)
    faults = schedule(KINDS, spec, seed=1)
    assert len(faults) <= 20
    assert {f.kind for f in faults[:8]} == {k.name for k in KINDS}


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="target"):
        schedule([FaultKind("sigkill", ())], SPEC, seed=1)
    with pytest.raises(ValueError, match="hold"):
        schedule(KINDS, ScheduleSpec(duration_s=10, min_hold_s=5, max_hold_s=1), seed=1)
