"""The arithmetic of the serving benchmark, apart from the servers: parsing ``wrk --latency``
output, medians over runs, ratios against each target's anchor, and the markdown table.

Kept free of processes and sockets so a fast unit test (tests/benchmarks/test_serving_report.py)
keeps the benchmark from rotting.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)\s*$", re.MULTILINE)
_P99 = re.compile(r"^\s*99(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_TOTAL = re.compile(r"^\s*([0-9]+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+([0-9]+)\s*$", re.MULTILINE)
_ERRORS = re.compile(
    r"^\s*Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)",
    re.MULTILINE,
)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


class WrkOutputError(ValueError):
    """wrk's output did not contain the figures the benchmark reads."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, tail latency and what went wrong."""

    rps: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: int = 0


def parse_wrk(text: str) -> WrkResult:
    """Read ``wrk --latency`` output (any wrk 4.x)."""
    rps, p99, total = _RPS.search(text), _P99.search(text), _TOTAL.search(text)
    if rps is None or p99 is None or total is None:
        raise WrkOutputError(f"not the output of wrk --latency:\n{text[-2000:]}")
    non_2xx = _NON_2XX.search(text)
    errors = _ERRORS.search(text)
    return WrkResult(
        rps=float(rps.group(1)),
        p99_ms=float(p99.group(1)) * _UNIT_MS[p99.group(2)],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


@dataclass
class Target:
    """One row of the table: a URL measured in every run, and the row it is compared with."""

    name: str
    anchor: str | None = None
    """The ``name`` of the row this one is divided by (None: an anchor itself)."""
    expect_status: int = 200
    runs: list[WrkResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs) if self.runs else 0.0

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs) if self.runs else 0.0

    @property
    def unexpected(self) -> int:
        """Responses that were not what this target serves, over all runs."""
        bad = sum(r.socket_errors for r in self.runs)
        if self.expect_status < 300:
            bad += sum(r.non_2xx for r in self.runs)
        else:  # e.g. the 429 path: every answer should be "non-2xx"
            bad += sum(r.requests - r.non_2xx for r in self.runs)
        return bad


def ratio(target: Target, by_name: dict[str, Target]) -> float | None:
    if target.anchor is None or target.anchor not in by_name:  # --only left the anchor out
        return None
    anchor = by_name[target.anchor]
    return target.rps / anchor.rps if anchor.rps else None


def _fmt_rps(value: float) -> str:
    return f"{value:,.0f}"


def _fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def table(targets: list[Target]) -> str:
    """The markdown table: target, req/s median, p99 median, ratio vs its anchor."""
    by_name = {t.name: t for t in targets}
    lines = [
        "| target | req/s (median) | p99 (median) | vs anchor | ratio | unexpected |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for t in targets:
        r = ratio(t, by_name)
        vs = "anchor" if t.anchor is None else t.anchor
        cell = "1" if t.anchor is None else ("—" if r is None else f"{r:.2f}x")
        lines.append(
            f"| {t.name} | {_fmt_rps(t.rps)} | {_fmt_ms(t.p99_ms)} | {vs} | {cell} |"
            f" {t.unexpected} |"
        )
    return "\n".join(lines) + "\n"
