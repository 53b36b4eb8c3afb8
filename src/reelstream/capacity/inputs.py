"""The inputs of the capacity model: one pydantic model with a default and bounds for each.

Defaults describe the seeds' example (100 M daily active users, 10 API actions each a day) on
this project's own design: the ladder is the one reelstream encodes (``reelstream.config.
DEFAULT_LADDER``, with an assumed share of watch time per rung), segments of the configured
length, the player's beacons every 10 s, a 3x peak. Every figure that is an assumption rather
than a measurement says so in its description; docs/capacity.md lists them all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reelstream.capacity.errors import CapacityError
from reelstream.capacity.prices import PRICES
from reelstream.config import DEFAULT_LADDER, Settings

# An assumed share of watch time per rung of the default ladder (phones and TVs both watch).
DEFAULT_WATCH_SHARES = {240: 0.05, 360: 0.15, 480: 0.25, 720: 0.35, 1080: 0.20}


class RungInput(BaseModel):
    """One rung of the ladder: its height, video bit rate and share of the watch time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    height: int = Field(gt=0, le=4320)
    video_kbps: float = Field(gt=0, le=200_000)
    watch_share: float = Field(ge=0, le=1, description="share of watch time on this rung")

    @property
    def pixels(self) -> int:
        """Pixels per frame at 16:9 (the transcode cost scales with them)."""
        return (self.height * 16 // 9) * self.height


def default_ladder() -> list[RungInput]:
    return [
        RungInput(
            height=r.height, video_kbps=r.video_kbps, watch_share=DEFAULT_WATCH_SHARES[r.height]
        )
        for r in DEFAULT_LADDER
    ]


def _default(name: str) -> float:
    value = Settings.model_fields[name].default
    assert isinstance(value, int | float)
    return float(value)


class CapacityInputs(BaseModel):
    """What the model is asked about. Units are in the field names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- demand
    dau: float = Field(100e6, ge=1, le=1e10, description="daily active users")
    views_per_user: float = Field(5, ge=0, le=1000, description="video views per user per day")
    api_actions_per_user: float = Field(
        10, ge=0, le=100_000, description="API requests per user per day (reads and writes)"
    )
    write_share: float = Field(0.1, ge=0, le=1, description="share of API actions that write")
    watch_minutes_per_view: float = Field(4, ge=0, le=1440, description="average watch time")
    uploads_per_day: float = Field(100_000, ge=0, le=1e9, description="new videos a day")
    upload_minutes: float = Field(5, ge=0, le=1440, description="average length of an upload")
    source_mbps: float = Field(8, gt=0, le=1000, description="bit rate of an uploaded source")
    upload_chunk_mib: float = Field(8, gt=0, le=4096, description="tus PATCH size (client's)")
    signed_in_share: float = Field(
        0.5, ge=0, le=1, description="share of views by signed-in users (resume positions)"
    )
    # -- the media
    ladder: tuple[RungInput, ...] = Field(default_factory=lambda: tuple(default_ladder()))
    audio_kbps: float = Field(_default("audio_kbps"), gt=0, le=2000)
    segment_s: float = Field(_default("segment_s"), gt=0, le=60)
    playlists_per_view: float = Field(3, ge=0, le=1000, description="master, video, audio")
    beacon_interval_s: float = Field(10, gt=0, le=3600, description="player progress beacons")
    # -- popularity and the edge
    zipf_s: float = Field(1.1, gt=0, le=5, description="Zipf exponent of video popularity")
    hot_fraction: float = Field(0.04, gt=0, le=1, description="the hot set: top share of videos")
    edge_hit_ratio: float = Field(0.95, ge=0, le=1, description="edge cache HITs / requests")
    egress_via: Literal["ec2", "cloudfront"] = "ec2"
    # -- deployment
    replication_factor: int = Field(2, ge=1, le=10, description="stored copies of every object")
    regions: int = Field(2, ge=1, le=50)
    peak_to_average: float = Field(3, ge=1, le=100)
    retention_days: float = Field(365, ge=1, le=36_500, description="how long videos are kept")
    headroom: float = Field(1.5, ge=1, le=10, description="capacity provisioned over the peak")
    cores_per_node: int = Field(8, ge=1, le=1024, description="vCPUs of one node")
    nic_gbps: float = Field(25, gt=0, le=1000, description="network of one edge/origin node")
    # -- assumptions where nothing was measured (docs/capacity.md says so)
    write_cost_factor: float = Field(
        4, ge=1, le=1000, description="an API write costs this many routed requests (assumed)"
    )
    db_writes_per_primary: float = Field(
        20_000, gt=0, le=1e7, description="row writes/s one PostgreSQL primary takes (assumed)"
    )
    db_standbys: int = Field(1, ge=0, le=10, description="standbys per primary (Patroni pair)")
    db_kb_per_upload: float = Field(20, ge=0, le=1e6, description="rows an upload adds (assumed)")
    db_kb_per_write: float = Field(0.5, ge=0, le=1e6, description="bytes an API write adds")
    redis_ops_per_request: float = Field(0.1, ge=0, le=100, description="assumed")
    redis_ops_per_node: float = Field(100_000, gt=0, le=1e8, description="assumed")
    # -- prices: overrides by name (reelstream.capacity.prices)
    prices: dict[str, float] = Field(default_factory=dict)

    @field_validator("ladder")
    @classmethod
    def _ladder_watched(cls, v: tuple[RungInput, ...]) -> tuple[RungInput, ...]:
        if not v:
            raise ValueError("the ladder needs at least one rung")
        if sum(r.watch_share for r in v) <= 0:
            raise ValueError("the rungs' watch shares add up to 0")
        return v

    @field_validator("prices")
    @classmethod
    def _known_prices(cls, v: dict[str, float]) -> dict[str, float]:
        for name, value in v.items():
            if name not in PRICES:
                raise ValueError(f"unknown price {name!r}; known: {', '.join(sorted(PRICES))}")
            if not 0 <= value < 1e6:
                raise ValueError(f"price {name} must be between 0 and 1e6, not {value}")
        return v


def build_inputs(**values: object) -> CapacityInputs:
    """``CapacityInputs(**values)`` with a refusal as a ``CapacityError`` naming each bad input
    and its reason (``dau: must be >= 1``)."""
    try:
        return CapacityInputs.model_validate(values)
    except ValidationError as exc:
        reasons = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "inputs"
            reasons.append(f"{where}: {err['msg']}")
        raise CapacityError("; ".join(reasons)) from None


def parse_ladder(text: str) -> tuple[RungInput, ...]:
    """``240:400:0.05,360:800:0.15`` (height:video kb/s:watch share, comma-separated)."""
    rungs = []
    for part in text.split(","):
        fields = part.strip().split(":")
        if len(fields) != 3:
            raise CapacityError(
                f"ladder: {part.strip()!r} is not height:kbps:share (e.g. 720:2800:0.35)"
            )
        try:
            height, kbps, share = int(fields[0]), float(fields[1]), float(fields[2])
            rungs.append(RungInput(height=height, video_kbps=kbps, watch_share=share))
        except (ValueError, ValidationError):
            raise CapacityError(f"ladder: {part.strip()!r} has a value out of range") from None
    return tuple(rungs)


def ladder_text(ladder: tuple[RungInput, ...]) -> str:
    return ",".join(f"{r.height}:{r.video_kbps:g}:{r.watch_share:g}" for r in ladder)
