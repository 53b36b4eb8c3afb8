"""The per-node figures this project measured, read from the record its benchmarks write.

``measured.json`` (beside this module) holds one entry per figure (name, value, unit, the cores
it ran on, date, machine, command, and the doc section and table row where it is published);
``benchmarks/measured_record.py`` updates it whenever a benchmark appends its results, and
``tests/capacity/test_measured_record.py`` checks each value against its published row, so the
model can never quote a figure the docs do not show.

``Measured`` turns the figures the model needs into per-core capacities:

- edge HITs/s per core and bytes/s per core (``edge_hit_rps`` x the segment it served);
- origin segment GETs/s per core, and bytes/s per core;
- API reads/s per core: the slowest of the three hot reads (get, playback, list);
- routed requests/s per core (``GET /healthz``: the middleware stack and FastAPI's routing,
  no database): what a beacon costs, and the base of an API write's cost;
- transcode: CPU-seconds per second of video for the default ladder (the 60 s 1080p source's
  upload complete -> ready, times the cores it ran on: an upper bound, both cores counted busy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstream.capacity.errors import MeasuredRecordError

# beside this module, so that an installed wheel carries it (package data)
DEFAULT_RECORD = Path(__file__).resolve().parent / "measured.json"
TRANSCODE_FIGURE = "transcode_ready_s_60s_1080p"
API_READ_FIGURES = ("api_get_rps", "api_playback_rps", "api_list_rps")
USED = ("edge_hit_rps", "origin_segment_rps", *API_READ_FIGURES, "routed_request_rps")


@dataclass(frozen=True)
class Figure:
    """One measured figure as recorded."""

    name: str
    value: float
    unit: str
    cores: int
    date: str
    machine: str
    command: str
    doc: str
    section: str
    row: str
    column: int
    extra: dict[str, Any]

    @property
    def per_core(self) -> float:
        return self.value / self.cores

    def cite(self) -> str:
        return f"{self.name} = {self.value:g} {self.unit} on {self.cores} core(s), {self.date}"


def read_record(path: Path | None = None) -> dict[str, Figure]:
    """Every figure of the record at ``path`` (default: the repository's), by name."""
    path = path or DEFAULT_RECORD
    try:
        raw = json.loads(path.read_text())
        figures = {}
        for entry in raw["figures"]:
            known = {k: entry[k] for k in Figure.__dataclass_fields__ if k != "extra"}
            extra = {k: v for k, v in entry.items() if k not in known}
            fig = Figure(**known, extra=extra)
            figures[fig.name] = fig
    except FileNotFoundError:
        raise MeasuredRecordError(f"no record of measured figures at {path}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise MeasuredRecordError(f"{path} is not a record of measured figures: {exc}") from None
    return figures


@dataclass(frozen=True)
class Measured:
    """The per-core capacities the model divides by, and the figures they came from."""

    figures: dict[str, Figure]

    @classmethod
    def load(cls, path: Path | None = None) -> Measured:
        figures = read_record(path)
        missing = [n for n in (*USED, TRANSCODE_FIGURE) if n not in figures]
        if missing:
            raise MeasuredRecordError(f"the record lacks {', '.join(missing)}")
        return cls(figures)

    def _get(self, name: str) -> Figure:
        return self.figures[name]

    @property
    def edge_rps_per_core(self) -> float:
        return self._get("edge_hit_rps").per_core

    @property
    def edge_bytes_per_core(self) -> float:
        fig = self._get("edge_hit_rps")
        return fig.per_core * float(fig.extra["request_bytes"])

    @property
    def origin_rps_per_core(self) -> float:
        return self._get("origin_segment_rps").per_core

    @property
    def origin_bytes_per_core(self) -> float:
        fig = self._get("origin_segment_rps")
        return fig.per_core * float(fig.extra["request_bytes"])

    @property
    def api_read_figure(self) -> Figure:
        return min((self._get(n) for n in API_READ_FIGURES), key=lambda f: f.per_core)

    @property
    def api_read_rps_per_core(self) -> float:
        return self.api_read_figure.per_core

    @property
    def routed_rps_per_core(self) -> float:
        return self._get("routed_request_rps").per_core

    @property
    def transcode_core_s_per_video_s(self) -> float:
        """CPU-seconds per second of video for the default ladder (upload complete -> ready x
        the cores it ran on / the video's length)."""
        fig = self._get(TRANSCODE_FIGURE)
        return fig.value * fig.cores / float(fig.extra["video_s"])
