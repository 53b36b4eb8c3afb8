"""The machine-readable record of measured figures: ``src/reelstream/capacity/measured.json``.

The serving, transcode, time-to-playable and scale-out benchmarks append their markdown results
to docs/ (``benchmarks.common.publish``) and, in the same step, update one entry per figure
here (name, value, unit, cores, date, machine, command, and the doc, section heading, table row
and column where the value is published). ``reelstream.capacity.measured`` reads it;
``tests/capacity/test_measured_record.py`` checks every entry against its published row.

An entry is replaced by name, so the record always holds the latest run of each figure. The
value is rounded as the markdown table prints it, so the two are equal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "src" / "reelstream" / "capacity" / "measured.json"
ABOUT = (
    "Per-node figures this project measured, one entry per figure. Written by the benchmarks "
    "(benchmarks/measured_record.py) when they append their results to the doc named; read by "
    "reelstream.capacity.measured. tests/capacity/test_measured_record.py checks every value "
    "against the row of the doc section it names."
)


@dataclass(frozen=True)
class Measurement:
    """One figure of a run: its name, the value as the table prints it, and its table row."""

    name: str
    value: float
    unit: str
    row: str
    cores: int
    column: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """Where the run's figures are published and how they were measured."""

    doc: str  # e.g. "docs/benchmarks.md"
    section: str  # the heading's text, without the #s
    command: str  # as the section's "Command: `...`" line gives it
    machine: str
    date: str


def short_machine(line: str) -> str:
    """``Machine: 2 cores, x86_64, ffmpeg version n9 Copyright (c) ... developers.`` ->
    ``2 cores, x86_64, ffmpeg version n9``."""
    text = line.removeprefix("Machine:").strip().rstrip(".")
    return re.sub(r"\s+Copyright \(c\).*?developers\.?", "", text).strip()


def merge(record: dict[str, Any], run: Run, figures: Sequence[Measurement]) -> dict[str, Any]:
    """``record`` with each figure's entry replaced (or added), others kept in order."""
    entries = {e["name"]: e for e in record.get("figures", [])}
    for fig in figures:
        entries[fig.name] = {
            "name": fig.name,
            "value": fig.value,
            "unit": fig.unit,
            "cores": fig.cores,
            **fig.extra,
            "date": run.date,
            "machine": run.machine,
            "command": run.command,
            "doc": run.doc,
            "section": run.section,
            "row": fig.row,
            "column": fig.column,
        }
    return {"about": record.get("about", ABOUT), "figures": list(entries.values())}


def record(run: Run, figures: Sequence[Measurement], path: Path = RECORD) -> None:
    """Update the record at ``path`` with ``figures`` (nothing to do without any)."""
    if not figures:
        return
    current = json.loads(path.read_text()) if path.exists() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merge(current, run, figures), indent=2) + "\n")
    print(f"measured figures recorded in {path}: " + ", ".join(f.name for f in figures))


def cpu_count(cpus: str) -> int:
    """CPUs in a taskset list: ``0`` -> 1, ``0,1`` -> 2, ``0-3`` -> 4."""
    n = 0
    for part in cpus.split(","):
        lo, _, hi = part.strip().partition("-")
        n += int(hi) - int(lo) + 1 if hi else 1
    return n
