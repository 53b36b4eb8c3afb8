"""The offered load over time: a multiplier of the baseline rates, and the phase of each moment.

``steady``: multiplier 1 for ``duration_s``; one phase, ``steady``.

``spike`` (the issue's "10x overnight"): baseline for ``baseline_s`` (phase ``before``), a linear
ramp to ``factor`` x within ``ramp_s``, a hold for ``hold_s`` (ramp and hold are phase
``during``), then back to 1x at once and observed for ``recovery_s`` (phase ``after``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    name: str
    start_s: float
    end_s: float

    def contains(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


@dataclass(frozen=True)
class Profile:
    kind: str  # "steady" or "spike"
    duration_s: float = 60.0  # steady only
    baseline_s: float = 30.0
    ramp_s: float = 10.0
    hold_s: float = 60.0
    recovery_s: float = 30.0
    factor: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in ("steady", "spike"):
            raise ValueError(f"unknown profile {self.kind!r} (steady or spike)")
        for name in ("duration_s", "baseline_s", "ramp_s", "hold_s", "recovery_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.factor < 1:
            raise ValueError("the spike factor must be at least 1")

    @property
    def total_s(self) -> float:
        if self.kind == "steady":
            return self.duration_s
        return self.baseline_s + self.ramp_s + self.hold_s + self.recovery_s

    @property
    def spike_end_s(self) -> float:
        """When the load drops back to the baseline (spike only)."""
        return self.baseline_s + self.ramp_s + self.hold_s

    def phases(self) -> list[Phase]:
        if self.kind == "steady":
            return [Phase("steady", 0.0, self.duration_s)]
        return [
            Phase("before", 0.0, self.baseline_s),
            Phase("during", self.baseline_s, self.spike_end_s),
            Phase("after", self.spike_end_s, self.total_s),
        ]

    def phase_at(self, t: float) -> str:
        for phase in self.phases():
            if phase.contains(t):
                return phase.name
        return self.phases()[-1].name  # the last instant (and stragglers) belong to the end

    def multiplier(self, t: float) -> float:
        """The load at ``t`` seconds after the start, as a multiple of the baseline."""
        if self.kind == "steady" or t < self.baseline_s or t >= self.spike_end_s:
            return 1.0
        into = t - self.baseline_s
        if self.ramp_s > 0 and into < self.ramp_s:
            return 1.0 + (self.factor - 1.0) * into / self.ramp_s
        return self.factor

    @property
    def peak(self) -> float:
        return 1.0 if self.kind == "steady" else self.factor
