"""Response bodies of the QoE beacon and the admin QoE endpoint (``reelstream.qoe.routes``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from reelstream.http.schemas import Schema
from reelstream.qoe.stats import Figures, Summary

Window = Literal["1h", "24h", "7d"]


class QoeAccepted(Schema):
    accepted: bool = Field(description="True: kept, written with the next batch")


class QoeFigures(Schema):
    sessions: int = Field(description="Player sessions with a report in the window")
    started: int = Field(description="Sessions that showed a first frame")
    startup_p50_s: float | None = Field(
        description="Median startup time (play intent to first frame)"
    )
    startup_p95_s: float | None = Field(description="95th percentile startup time")
    watch_s: float = Field(description="Playing + stalled time after the first frame, summed")
    rebuffer_s: float = Field(description="Stalled time after the first frame (seeks excluded)")
    rebuffer_count: int = Field(description="Stalls after the first frame")
    rebuffer_ratio: float | None = Field(description="rebuffer_s / watch_s (0.02 = 2 %)")
    failure_pct: float | None = Field(description="% of sessions with a fatal playback error")
    exits_before_start_pct: float | None = Field(
        description="% of sessions whose page went away after play intent, before a first frame"
    )
    avg_bitrate_bps: float | None = Field(description="Average bitrate, weighted by watch time")
    upscale_pct: float | None = Field(
        description="Average upscaling (display height / rendition height - 1, in %), "
        "weighted by watch time"
    )
    switches: int = Field(description="Rendition switches")

    @classmethod
    def of(cls, f: Figures) -> QoeFigures:
        return cls(**{name: getattr(f, name) for name in Figures.__dataclass_fields__})


class QoeVideo(QoeFigures):
    video_id: str
    title: str


class QoeSummary(Schema):
    window: Window
    since: dt.datetime = Field(description="Start of the window")
    overall: QoeFigures
    video: QoeFigures | None = Field(description="The figures of ?video_id=, when given")
    top_rebuffering: list[QoeVideo] = Field(
        description="Videos with the highest rebuffer ratio (at least 60 s watched), worst first"
    )
    truncated: bool = Field(description="True: only the newest 200,000 sessions were read")

    @classmethod
    def of(cls, s: Summary) -> QoeSummary:
        return cls(
            window=s.window,
            since=s.since,
            overall=QoeFigures.of(s.overall),
            video=QoeFigures.of(s.video) if s.video is not None else None,
            top_rebuffering=[
                QoeVideo(
                    video_id=v.video_id,
                    title=v.title,
                    **QoeFigures.of(v.figures).model_dump(),
                )
                for v in s.top_rebuffering
            ],
            truncated=s.truncated,
        )
