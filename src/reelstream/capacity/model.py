"""The capacity model: inputs and measured per-core figures in, loads, nodes and costs out.

Pure arithmetic (no I/O but the record ``Measured.load`` reads): every ``Output`` carries the
formula it came from, the inputs it used and the measured figures it divided by, so the CLI,
the admin page and docs/capacity.md can show where each number comes from. The formulas are
written out in docs/capacity.md; ``estimate(inputs, measured)`` is the whole model and
``what_if(inputs, measured, factor)`` the same with ``factor`` x the daily active users.
"""

from __future__ import annotations

import math

from reelstream.capacity.costs import monthly_costs
from reelstream.capacity.inputs import CapacityInputs
from reelstream.capacity.measured import TRANSCODE_FIGURE, Measured
from reelstream.capacity.nodes import tiers
from reelstream.capacity.popularity import hot_share
from reelstream.capacity.results import DAY_S, DEFAULT_LADDER_PIXELS, GB, TB, Estimate, Output

__all__ = ["Estimate", "Output", "estimate", "what_if"]


def _load(e: Estimate, inp: CapacityInputs) -> dict[str, float]:
    """Requests a day per endpoint class, and their average and peak QPS."""
    watch_s = inp.watch_minutes_per_view * 60
    views = inp.dau * inp.views_per_user
    chunks_per_upload = math.ceil(
        inp.upload_minutes * 60 * inp.source_mbps * 1e6 / 8 / (inp.upload_chunk_mib * 2**20)
    )
    per_day = {
        "api_reads": inp.dau * inp.api_actions_per_user * (1 - inp.write_share),
        "api_writes": inp.dau * inp.api_actions_per_user * inp.write_share,
        "playlists": views * inp.playlists_per_view,
        "segments": views * (2 * watch_s / inp.segment_s + 2),
        "upload_chunks": inp.uploads_per_day * chunks_per_upload,
        "beacons": views * (1 + watch_s / inp.beacon_interval_s),
    }
    formulas = {
        "api_reads": (
            "dau x api_actions_per_user x (1 - write_share)",
            "dau",
            "api_actions_per_user",
            "write_share",
        ),
        "api_writes": (
            "dau x api_actions_per_user x write_share",
            "dau",
            "api_actions_per_user",
            "write_share",
        ),
        "playlists": (
            "dau x views_per_user x playlists_per_view",
            "dau",
            "views_per_user",
            "playlists_per_view",
        ),
        "segments": (
            "dau x views_per_user x (2 x watch_minutes_per_view x 60 / segment_s + 2) "
            "(video and audio segments, their two init segments)",
            "dau",
            "views_per_user",
            "watch_minutes_per_view",
            "segment_s",
        ),
        "upload_chunks": (
            "uploads_per_day x ceil(upload_minutes x 60 x source_mbps / 8 / upload_chunk_mib)",
            "uploads_per_day",
            "upload_minutes",
            "source_mbps",
            "upload_chunk_mib",
        ),
        "beacons": (
            "dau x views_per_user x (1 + watch_minutes_per_view x 60 / beacon_interval_s)",
            "dau",
            "views_per_user",
            "watch_minutes_per_view",
            "beacon_interval_s",
        ),
    }
    total = sum(per_day.values())
    e.add(
        "requests_per_day",
        "load",
        "all requests a day",
        total,
        "req/day",
        "sum of the classes below",
        ("dau",),
    )
    api_day = per_day["api_reads"] + per_day["api_writes"]
    e.add(
        "api_requests_per_day",
        "load",
        "API actions a day",
        api_day,
        "req/day",
        "dau x api_actions_per_user",
        ("dau", "api_actions_per_user"),
    )
    e.add(
        "api_qps_avg",
        "load",
        "API actions, average",
        api_day / DAY_S,
        "req/s",
        "dau x api_actions_per_user / 86,400",
        ("dau", "api_actions_per_user"),
    )
    e.add(
        "api_qps_peak",
        "load",
        "API actions, peak",
        api_day / DAY_S * inp.peak_to_average,
        "req/s",
        "api_qps_avg x peak_to_average",
        ("dau", "api_actions_per_user", "peak_to_average"),
    )
    for cls, n in per_day.items():
        formula, *used = formulas[cls]
        e.add(
            f"{cls}_qps_avg",
            "load",
            f"{cls.replace('_', ' ')}, average",
            n / DAY_S,
            "req/s",
            f"{formula} / 86,400",
            tuple(used),
        )
        e.add(
            f"{cls}_qps_peak",
            "load",
            f"{cls.replace('_', ' ')}, peak",
            n / DAY_S * inp.peak_to_average,
            "req/s",
            f"{cls}_qps_avg x peak_to_average",
            (*used, "peak_to_average"),
        )
    return per_day


def _bandwidth(e: Estimate, inp: CapacityInputs, per_day: dict[str, float]) -> None:
    shares = sum(r.watch_share for r in inp.ladder)
    kbps = sum(r.video_kbps * r.watch_share for r in inp.ladder) / shares + inp.audio_kbps
    e.add(
        "served_kbps",
        "bandwidth",
        "average bit rate watched",
        kbps,
        "kb/s",
        "sum(rung video_kbps x watch_share) / sum(watch_share) + audio_kbps",
        ("ladder", "audio_kbps"),
    )
    watched_s = inp.dau * inp.views_per_user * inp.watch_minutes_per_view * 60
    bytes_day = watched_s * kbps * 1000 / 8
    e.add(
        "egress_tb_day",
        "bandwidth",
        "egress to viewers a day",
        bytes_day / TB,
        "TB/day",
        "dau x views_per_user x watch_minutes_per_view x 60 x served_kbps / 8",
        ("dau", "views_per_user", "watch_minutes_per_view", "ladder"),
    )
    gbps = bytes_day * 8 / DAY_S / GB
    used = ("dau", "views_per_user", "watch_minutes_per_view", "ladder")
    e.add(
        "egress_gbps_avg",
        "bandwidth",
        "egress to viewers, average",
        gbps,
        "Gb/s",
        "egress_tb_day x 8 / 86,400",
        used,
    )
    e.add(
        "egress_gbps_peak",
        "bandwidth",
        "egress to viewers, peak",
        gbps * inp.peak_to_average,
        "Gb/s",
        "egress_gbps_avg x peak_to_average",
        (*used, "peak_to_average"),
    )
    miss = 1 - inp.edge_hit_ratio
    e.add(
        "origin_gbps_peak",
        "bandwidth",
        "origin to edges, peak",
        gbps * inp.peak_to_average * miss,
        "Gb/s",
        "egress_gbps_peak x (1 - edge_hit_ratio)",
        (*used, "peak_to_average", "edge_hit_ratio"),
    )
    origin_day = (per_day["segments"] + per_day["playlists"]) * miss
    e.add(
        "origin_qps_peak",
        "bandwidth",
        "origin requests (edge misses), peak",
        origin_day / DAY_S * inp.peak_to_average,
        "req/s",
        "(segments + playlists) x (1 - edge_hit_ratio) x peak_to_average / 86,400",
        ("dau", "views_per_user", "edge_hit_ratio", "peak_to_average"),
    )
    e.add(
        "origin_tb_day",
        "bandwidth",
        "origin to edges a day",
        bytes_day * miss / TB,
        "TB/day",
        "egress_tb_day x (1 - edge_hit_ratio)",
        (*used, "edge_hit_ratio"),
    )
    upload_gbps = inp.uploads_per_day * inp.upload_minutes * 60 * inp.source_mbps / 1000 / DAY_S
    e.add(
        "upload_gbps_peak",
        "bandwidth",
        "uploads in, peak",
        upload_gbps * inp.peak_to_average,
        "Gb/s",
        "uploads_per_day x upload_minutes x 60 x source_mbps / 86,400 x peak_to_average",
        ("uploads_per_day", "upload_minutes", "source_mbps", "peak_to_average"),
    )
    videos = inp.uploads_per_day * inp.retention_days
    e.add(
        "catalogue_videos",
        "bandwidth",
        "videos in the catalogue",
        videos,
        "videos",
        "uploads_per_day x retention_days",
        ("uploads_per_day", "retention_days"),
    )
    share = hot_share(max(1, round(videos)), inp.zipf_s, inp.hot_fraction)
    e.add(
        "hot_set_view_share",
        "bandwidth",
        "share of views on the hot set",
        share,
        "ratio",
        "H(hot_fraction x videos, zipf_s) / H(videos, zipf_s) (Zipf; H generalised harmonic)",
        ("zipf_s", "hot_fraction", "uploads_per_day", "retention_days"),
    )
    rendition_bytes = (
        inp.upload_minutes
        * 60
        * (sum(r.video_kbps for r in inp.ladder) + inp.audio_kbps)
        * 1000
        / 8
    )
    e.add(
        "edge_cache_tb",
        "bandwidth",
        "edge cache to hold the hot set (per region)",
        videos * inp.hot_fraction * rendition_bytes / TB,
        "TB",
        "hot_fraction x videos x upload_minutes x 60 x (sum rung kbps + audio_kbps) / 8",
        ("hot_fraction", "uploads_per_day", "retention_days", "upload_minutes", "ladder"),
    )


def _storage(e: Estimate, inp: CapacityInputs) -> None:
    seconds = inp.uploads_per_day * inp.upload_minutes * 60
    source = seconds * inp.source_mbps * 1e6 / 8
    renditions = seconds * (sum(r.video_kbps for r in inp.ladder) + inp.audio_kbps) * 1000 / 8
    used = ("uploads_per_day", "upload_minutes")
    e.add(
        "source_tb_day",
        "storage",
        "sources a day",
        source / TB,
        "TB/day",
        "uploads_per_day x upload_minutes x 60 x source_mbps / 8",
        (*used, "source_mbps"),
    )
    e.add(
        "renditions_tb_day",
        "storage",
        "renditions a day",
        renditions / TB,
        "TB/day",
        "uploads_per_day x upload_minutes x 60 x (sum rung kbps + audio_kbps) / 8",
        (*used, "ladder", "audio_kbps"),
    )
    growth = (source + renditions) * inp.replication_factor
    e.add(
        "storage_growth_tb_day",
        "storage",
        "stored a day (all copies)",
        growth / TB,
        "TB/day",
        "(sources + renditions) x replication_factor",
        (*used, "source_mbps", "ladder", "replication_factor"),
    )
    e.add(
        "storage_total_tb",
        "storage",
        "stored at steady state (all copies)",
        growth * inp.retention_days / TB,
        "TB",
        "storage_growth_tb_day x retention_days",
        (*used, "source_mbps", "ladder", "replication_factor", "retention_days"),
    )


def _transcode(e: Estimate, inp: CapacityInputs, m: Measured) -> float:
    pixels = sum(r.pixels for r in inp.ladder)
    per_s = m.transcode_core_s_per_video_s * pixels / DEFAULT_LADDER_PIXELS
    e.add(
        "transcode_core_s_per_video_s",
        "transcode",
        "CPU-seconds per second of video",
        per_s,
        "core-s/s",
        "measured ready time x its cores / video length x (ladder pixels / default ladder's)",
        ("ladder",),
        (TRANSCODE_FIGURE,),
    )
    hours = inp.uploads_per_day * inp.upload_minutes * 60 * per_s / 3600
    e.add(
        "transcode_core_hours_day",
        "transcode",
        "transcode core-hours a day",
        hours,
        "core-h/day",
        "uploads_per_day x upload_minutes x 60 x transcode_core_s_per_video_s / 3,600",
        ("uploads_per_day", "upload_minutes", "ladder"),
        (TRANSCODE_FIGURE,),
    )
    return hours / 24  # cores busy on average


def _database(e: Estimate, inp: CapacityInputs, per_day: dict[str, float]) -> float:
    chunks = per_day["upload_chunks"]
    progress = per_day["beacons"] * inp.signed_in_share
    writes_day = per_day["api_writes"] + chunks + inp.uploads_per_day * 8 + progress
    e.add(
        "db_writes_avg",
        "database",
        "database writes, average",
        writes_day / DAY_S,
        "writes/s",
        "(api_writes + upload_chunks + 8 x uploads_per_day + beacons x signed_in_share) / 86,400"
        " (a chunk commits its offset; an upload's rows and job states ~8; resume positions)",
        ("dau", "api_actions_per_user", "write_share", "uploads_per_day", "signed_in_share"),
    )
    peak = writes_day / DAY_S * inp.peak_to_average
    e.add(
        "db_writes_peak",
        "database",
        "database writes, peak",
        peak,
        "writes/s",
        "db_writes_avg x peak_to_average",
        ("peak_to_average",),
    )
    growth = (
        inp.uploads_per_day * inp.db_kb_per_upload + per_day["api_writes"] * inp.db_kb_per_write
    ) * 1000
    e.add(
        "db_growth_gb_day",
        "database",
        "database size growth a day",
        growth / GB,
        "GB/day",
        "uploads_per_day x db_kb_per_upload + api_writes x db_kb_per_write",
        ("uploads_per_day", "db_kb_per_upload", "db_kb_per_write"),
    )
    e.add(
        "db_size_gb",
        "database",
        "database size at steady state",
        growth * inp.retention_days / GB,
        "GB",
        "db_growth_gb_day x retention_days",
        ("retention_days",),
    )
    return peak


def estimate(inputs: CapacityInputs, measured: Measured) -> Estimate:
    """The whole model for ``inputs`` over the ``measured`` per-core figures."""
    e = Estimate(inputs, measured)
    per_day = _load(e, inputs)
    _bandwidth(e, inputs, per_day)
    _storage(e, inputs)
    worker_cores = _transcode(e, inputs, measured)
    db_peak = _database(e, inputs, per_day)
    tiers(e, inputs, measured, per_day, worker_cores, db_peak)
    e.costs = monthly_costs(e, inputs)
    return e


def what_if(inputs: CapacityInputs, measured: Measured, factor: float) -> Estimate:
    """The same inputs with ``factor`` x the daily active users (uploads scale with them)."""
    scaled = inputs.model_copy(
        update={"dau": inputs.dau * factor, "uploads_per_day": inputs.uploads_per_day * factor}
    )
    return estimate(CapacityInputs.model_validate(scaled.model_dump()), measured)
