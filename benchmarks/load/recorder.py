"""Everything a run measures, as plain records; the report groups them by phase afterwards.

Times are seconds since the start of the load (``Recorder.now``). A request's status is its
HTTP status, or 0 when it raised (connection refused, reset, timeout: ``error`` says which).
For the chaos checker a sample also says whether a 5xx carried ``Retry-After`` and whether the
request hung (timed out, or took longer from its send than the client's timeout).
The recorder also holds the run's request budget: ``take`` refuses once it is spent and sets
``stop``, which every actor's loop watches.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # when the request was scheduled (API clients) or sent (the others)
    kind: str  # "segment", "api.get", "upload.patch", ...
    latency_s: float
    status: int  # 0: no response (an exception)
    error: str | None = None
    cache: str | None = None  # X-Cache-Status of a media response, when the edge sent one
    retry_after: bool = False  # the response carried Retry-After (a 503 shedding load should)
    hung: bool = False  # timed out, or took longer than the client's timeout from its send

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 400


@dataclass
class ViewerSession:
    t: float  # arrival
    video_id: str
    startup_s: float | None = None
    stalls: int = 0
    stall_s: float = 0.0
    play_s: float = 0.0
    rung_switches: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # request kind -> failed requests
    outcome: str = "left"  # left (watched its share), ended (played to the end), failed, cut
    missing: list[str] = field(default_factory=list)  # media URLs a playlist named: 404

    @property
    def rebuffer_ratio(self) -> float:
        total = self.play_s + self.stall_s
        return self.stall_s / total if total > 0 else 0.0


@dataclass
class UploadResult:
    t: float
    video_id: str | None
    size: int
    acknowledged: bool = False
    interruptions: int = 0
    resumes: int = 0
    error: str | None = None
    sha256: str | None = None  # of the bytes sent: the checker compares the stored source


@dataclass(frozen=True)
class ServerSample:
    t: float
    url: str
    values: dict[str, float]


class Recorder:
    def __init__(self, max_requests: int) -> None:
        self.max_requests = max_requests
        self.sent = 0
        self.t0 = time.monotonic()
        self.stop = asyncio.Event()
        self.samples: list[Sample] = []
        self.viewers: list[ViewerSession] = []
        self.uploads: list[UploadResult] = []
        self.server: list[ServerSample] = []
        self.overflow: dict[str, int] = {}  # actor -> arrivals dropped (too many in flight)
        self.resent = 0  # idempotent requests sent again after a keep-alive close (client.py)

    def start(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def take(self) -> bool:
        """One request of the budget; False (and stop) once it is spent."""
        if self.sent >= self.max_requests:
            self.stop.set()
            return False
        self.sent += 1
        return True

    def record(self, sample: Sample) -> None:
        self.samples.append(sample)

    def dropped(self, actor: str) -> None:
        self.overflow[actor] = self.overflow.get(actor, 0) + 1
