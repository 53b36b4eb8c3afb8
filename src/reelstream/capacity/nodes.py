"""Nodes per tier: the peak load of each tier divided by this project's measured per-core
capacity (``Measured``), with the headroom, the nodes' cores and network, and per-region
minimums. The formulas are written out in docs/capacity.md ("Nodes")."""

from __future__ import annotations

import math

from reelstream.capacity.inputs import CapacityInputs
from reelstream.capacity.measured import TRANSCODE_FIGURE, Measured
from reelstream.capacity.results import DAY_S, GB, MIN_NODES, MIN_PER_REGION, Estimate


def _nodes(cores_needed: float, inp: CapacityInputs, minimum: int) -> int:
    return max(minimum, math.ceil(cores_needed * inp.headroom / inp.cores_per_node - 1e-9))


def tiers(
    e: Estimate,
    inp: CapacityInputs,
    m: Measured,
    per_day: dict[str, float],
    worker_cores: float,
    db_peak: float,
) -> None:
    peak = {k: v / DAY_S * inp.peak_to_average for k, v in per_day.items()}
    edge_rps = peak["segments"] + peak["playlists"]
    edge_bytes = e["egress_gbps_peak"] * GB / 8
    edge_cores = max(edge_rps / m.edge_rps_per_core, edge_bytes / m.edge_bytes_per_core)
    by_nic = math.ceil(e["egress_gbps_peak"] * inp.headroom / inp.nic_gbps - 1e-9)
    edge = max(_nodes(edge_cores, inp, MIN_PER_REGION["edge"] * inp.regions), by_nic)
    e.add(
        "nodes_edge",
        "nodes",
        "edge nodes",
        edge,
        "nodes",
        "max(peak (segments + playlists) / edge HIT req/s per core, peak egress bytes / edge "
        "bytes per core) x headroom / cores_per_node, peak egress x headroom / nic_gbps, "
        "2 per region",
        ("peak_to_average", "headroom", "cores_per_node", "nic_gbps", "regions"),
        ("edge_hit_rps",),
    )
    miss = 1 - inp.edge_hit_ratio
    origin_cores = max(
        edge_rps * miss / m.origin_rps_per_core, edge_bytes * miss / m.origin_bytes_per_core
    )
    by_nic = math.ceil(e["origin_gbps_peak"] * inp.headroom / inp.nic_gbps - 1e-9)
    origin = max(_nodes(origin_cores, inp, MIN_NODES["origin"]), by_nic)
    e.add(
        "nodes_origin",
        "nodes",
        "origin nodes",
        origin,
        "nodes",
        "max(origin req/s / origin segment req/s per core, origin bytes / its bytes per core) "
        "x headroom / cores_per_node, origin Gb/s x headroom / nic_gbps, at least 2",
        ("edge_hit_ratio", "peak_to_average", "headroom", "cores_per_node"),
        ("origin_segment_rps",),
    )
    write_rps = m.routed_rps_per_core / inp.write_cost_factor
    api_cores = (
        peak["api_reads"] / m.api_read_rps_per_core
        + (peak["api_writes"] + peak["upload_chunks"]) / write_rps
        + peak["beacons"] / m.routed_rps_per_core
    )
    api = _nodes(api_cores, inp, MIN_PER_REGION["api"] * inp.regions)
    e.add(
        "nodes_api",
        "nodes",
        "api nodes",
        api,
        "nodes",
        "(peak reads / API read req/s per core + peak (writes + upload chunks) / (routed req/s "
        "per core / write_cost_factor) + peak beacons / routed req/s per core) x headroom / "
        "cores_per_node, 2 per region",
        ("dau", "api_actions_per_user", "write_share", "write_cost_factor", "headroom"),
        (m.api_read_figure.name, "routed_request_rps"),
    )
    workers = _nodes(worker_cores, inp, MIN_NODES["workers"])
    e.add(
        "nodes_workers",
        "nodes",
        "transcode worker nodes",
        workers,
        "nodes",
        "transcode_core_hours_day / 24 x headroom / cores_per_node (on the average: the queue "
        "absorbs upload peaks, docs/performance.md)",
        ("uploads_per_day", "upload_minutes", "headroom", "cores_per_node"),
        (TRANSCODE_FIGURE,),
    )
    shards = max(1, math.ceil(db_peak * inp.headroom / inp.db_writes_per_primary - 1e-9))
    e.add(
        "db_primaries",
        "nodes",
        "database primaries (shards)",
        shards,
        "nodes",
        "db_writes_peak x headroom / db_writes_per_primary (assumed, not measured)",
        ("db_writes_per_primary", "headroom"),
    )
    e.add(
        "nodes_database",
        "nodes",
        "database nodes",
        shards * (1 + inp.db_standbys),
        "nodes",
        "db_primaries x (1 + db_standbys)",
        ("db_standbys",),
    )
    ops = (peak["api_reads"] + peak["api_writes"] + peak["beacons"]) * inp.redis_ops_per_request
    redis = max(
        MIN_NODES["redis"] * inp.regions,
        math.ceil(ops * inp.headroom / inp.redis_ops_per_node - 1e-9),
    )
    e.add(
        "nodes_redis",
        "nodes",
        "redis nodes",
        redis,
        "nodes",
        "peak API requests x redis_ops_per_request x headroom / redis_ops_per_node, 2 per region",
        ("redis_ops_per_request", "redis_ops_per_node", "regions"),
    )
