"""How the CLI and the admin page show the model's numbers (shared so both read the same)."""

from __future__ import annotations

from reelstream.capacity.model import Estimate

# The outputs the what-if comparison and the page's summary show, in order.
HEADLINE = (
    "api_qps_avg",
    "api_qps_peak",
    "segments_qps_peak",
    "egress_gbps_peak",
    "origin_gbps_peak",
    "storage_total_tb",
    "transcode_core_hours_day",
    "db_writes_peak",
    "nodes_edge",
    "nodes_origin",
    "nodes_api",
    "nodes_workers",
    "nodes_database",
    "nodes_redis",
)
GROUPS = ("load", "bandwidth", "storage", "transcode", "database", "nodes")


def number(value: float) -> str:
    """``11574.07`` -> ``11,574``; ``3.6083`` -> ``3.61``; ``0.9167`` -> ``0.917``."""
    if value == 0:
        return "0"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def usd(value: float) -> str:
    return f"${value:,.0f}"


def compact(value: float) -> str:
    """``1.0e9`` -> ``1.00 B``; ``34722`` -> ``34.7 K``."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= div:
            return f"{value / div:.3g} {suffix}"
    return number(value)


def what_if_line(base: Estimate, scaled: Estimate, factor: float) -> str:
    """One line: what ``factor`` x the users does to the peak API load, egress, nodes and cost."""
    nodes = sum(int(base[k]) for k in HEADLINE if k.startswith("nodes_"))
    ratio = scaled.total_usd_month / base.total_usd_month
    nodes_x = sum(int(scaled[k]) for k in HEADLINE if k.startswith("nodes_"))
    return (
        f"what if {factor:g}x: API {compact(base['api_qps_peak'])} -> "
        f"{compact(scaled['api_qps_peak'])} req/s at the peak, egress "
        f"{number(base['egress_gbps_peak'])} -> {number(scaled['egress_gbps_peak'])} Gb/s, "
        f"nodes {nodes:,} -> {nodes_x:,}, cost {usd(base.total_usd_month)} -> "
        f"{usd(scaled.total_usd_month)} a month (x{ratio:.2f})"
    )
