"""The shape of the capacity model's answer: ``Output`` (a value with its formula, inputs and
measured figures) and ``Estimate`` (all outputs, the cost lines, and the JSON form), plus the
unit constants the model's modules share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reelstream.capacity.inputs import CapacityInputs
from reelstream.capacity.measured import Measured

if TYPE_CHECKING:
    from reelstream.capacity.costs import CostLine

DAY_S = 86_400.0
GB = 1e9
TB = 1e12
DEFAULT_LADDER_PIXELS = sum(
    (h * 16 // 9) * h for h in (240, 360, 480, 720, 1080)
)  # the ladder the transcode figure was measured with
MIN_PER_REGION = {"edge": 2, "api": 2}
MIN_NODES = {"origin": 2, "workers": 1, "redis": 2}


@dataclass(frozen=True)
class Output:
    """One output: its value, unit, formula, and the inputs and measured figures behind it."""

    key: str
    group: str
    label: str
    value: float
    unit: str
    formula: str
    inputs: tuple[str, ...] = ()
    measured: tuple[str, ...] = ()


@dataclass
class Estimate:
    """What ``estimate`` returns: the inputs, the outputs by key, the cost lines, the figures."""

    inputs: CapacityInputs
    measured: Measured
    outputs: dict[str, Output] = field(default_factory=dict)
    costs: list[CostLine] = field(default_factory=list)

    def add(self, *args: object, **kwargs: object) -> float:
        out = Output(*args, **kwargs)  # type: ignore[arg-type]
        self.outputs[out.key] = out
        return out.value

    def __getitem__(self, key: str) -> float:
        return self.outputs[key].value

    @property
    def total_usd_month(self) -> float:
        return sum(c.usd_month for c in self.costs)

    def figures_used(self) -> list[str]:
        names = {m for o in self.outputs.values() for m in o.measured}
        return sorted(names)

    def as_json(self) -> dict[str, object]:
        return {
            "inputs": self.inputs.model_dump(mode="json"),
            "measured": {
                n: {
                    "value": f.value,
                    "unit": f.unit,
                    "cores": f.cores,
                    "date": f.date,
                    "machine": f.machine,
                    "command": f.command,
                    "doc": f.doc,
                    "section": f.section,
                }
                for n, f in self.measured.figures.items()
                if n in self.figures_used()
            },
            "outputs": {
                k: {
                    "group": o.group,
                    "label": o.label,
                    "value": o.value,
                    "unit": o.unit,
                    "formula": o.formula,
                    "inputs": list(o.inputs),
                    "measured": list(o.measured),
                }
                for k, o in self.outputs.items()
            },
            "costs": [c.as_json() for c in self.costs],
            "total_usd_month": self.total_usd_month,
        }
