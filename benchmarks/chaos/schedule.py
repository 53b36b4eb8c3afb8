"""The chaos campaign's fault schedule: a seeded, reproducible list of faults that overlap.

A campaign names the faults it can inject (``FaultKind``: a name such as ``sigkill`` or
``net-latency``, and the targets it applies to, such as ``api-1`` or ``postgres-primary``) and
asks for a schedule over ``duration_s``: faults start at random times (a Poisson process of
``rate_per_s``), each lasts a random time between ``min_hold_s`` and ``max_hold_s``, and up to
``max_overlap`` run at once, so two faults can hit the system together (an origin frozen while
the database fails over), never more than the bound. The same seed gives the same schedule,
so a failure found by a run can be replayed. Every loop is bounded by ``max_faults``.

Pure (no I/O): the runner that carries the faults out reads ``Fault.start_s`` and
``Fault.end_s``; ``tests/benchmarks/chaos/test_schedule.py`` checks the properties above.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultKind:
    name: str
    targets: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Fault:
    kind: str
    target: str
    start_s: float
    end_s: float

    @property
    def hold_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class ScheduleSpec:
    duration_s: float
    rate_per_s: float = 1.0
    min_hold_s: float = 1.0
    max_hold_s: float = 10.0
    max_overlap: int = 2
    max_faults: int = 1000
    min_kinds: int = 1  # every one of the first min_kinds kinds is used at least once


def schedule(kinds: list[FaultKind], spec: ScheduleSpec, seed: int) -> list[Fault]:
    """The faults, by start time: seeded, overlapping up to ``spec.max_overlap``, a target
    never faulted twice at once, all ending by ``spec.duration_s``."""
    if not kinds or any(not k.targets for k in kinds):
        raise ValueError("every fault kind needs at least one target")
    if spec.max_hold_s < spec.min_hold_s or spec.min_hold_s <= 0:
        raise ValueError("hold times must satisfy 0 < min_hold_s <= max_hold_s")
    rng = random.Random(seed)
    faults: list[Fault] = []
    weights = [k.weight for k in kinds]
    owed = list(kinds[: spec.min_kinds])  # kinds still to appear at least once
    t = 0.0
    for _ in range(spec.max_faults * 10):  # bounded: attempts, not only faults
        if len(faults) >= spec.max_faults:
            break
        t += rng.expovariate(spec.rate_per_s)
        hold = rng.uniform(spec.min_hold_s, spec.max_hold_s)
        if t + hold > spec.duration_s:
            break
        running = [f for f in faults if f.start_s <= t < f.end_s]
        if len(running) >= spec.max_overlap:
            t = min(f.end_s for f in running)  # wait for a slot
            continue
        kind = owed.pop(0) if owed else rng.choices(kinds, weights)[0]
        busy = {f.target for f in running}
        free = [target for target in kind.targets if target not in busy]
        if not free:
            continue
        faults.append(Fault(kind.name, rng.choice(free), round(t, 3), round(t + hold, 3)))
    return faults


def summary(faults: list[Fault]) -> dict[str, int]:
    """Faults by kind."""
    return dict(Counter(f.kind for f in faults))
