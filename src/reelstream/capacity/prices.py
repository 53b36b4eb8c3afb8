"""Default prices of the cost model: AWS on-demand list prices, USD, us-east-1, Linux.

Each price carries its source (the price page's name and URL) and when it was read. They are
the list prices as published on that date, before any discount, savings plan or negotiated
rate (at the egress volumes of the seeds' example, every real contract is below them), and
every one can be overridden (``reelstream capacity --price NAME=VALUE``, the page's form).

Where AWS publishes volume tiers (data transfer out, S3 Standard) the tiers are kept and the
bill is computed over them (``tiered_cost``); overriding such a price by name replaces its
tiers with that one flat rate.

The figures were read from the pages below in 2025-01; the build machine of this module had no
network on 2026-12-01, so they were not re-read that day: check the URL before quoting them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

READ_ON = "2025-01"
EC2_PAGE = ("Amazon EC2 On-Demand Pricing", "https://aws.amazon.com/ec2/pricing/on-demand/")


@dataclass(frozen=True)
class Price:
    """One price: per ``unit``, flat or in volume ``tiers`` ((up to this many units a month,
    price per unit), the last up to infinity)."""

    name: str
    usd: float  # the flat price (the first tier's, for a tiered one)
    unit: str
    what: str
    source: str
    url: str
    read_on: str = READ_ON
    tiers: tuple[tuple[float, float], ...] = ()


TB = 1000.0  # GB in a TB, as AWS bills (decimal)
_INF = math.inf

PRICES: dict[str, Price] = {
    p.name: p
    for p in (
        Price(
            "ec2_egress_gb",
            0.09,
            "GB",
            "data transfer out from EC2 to the internet (the edge nodes' egress)",
            *EC2_PAGE,
            tiers=((10 * TB, 0.09), (50 * TB, 0.085), (150 * TB, 0.07), (_INF, 0.05)),
        ),
        Price(
            "cloudfront_egress_gb",
            0.085,
            "GB",
            "CloudFront data transfer out, United States / Europe (if a CDN replaces the edge)",
            "Amazon CloudFront Pricing",
            "https://aws.amazon.com/cloudfront/pricing/",
            tiers=(
                (10 * TB, 0.085),
                (50 * TB, 0.080),
                (150 * TB, 0.060),
                (500 * TB, 0.040),
                (1024 * TB, 0.030),
                (5 * 1024 * TB, 0.025),
                (_INF, 0.020),
            ),
        ),
        Price(
            "inter_region_gb",
            0.02,
            "GB",
            "data transfer between regions (edge cache fills from the origin's region)",
            *EC2_PAGE,
        ),
        Price(
            "s3_standard_gb_month",
            0.023,
            "GB-month",
            "S3 Standard storage",
            "Amazon S3 Pricing",
            "https://aws.amazon.com/s3/pricing/",
            tiers=((50 * TB, 0.023), (500 * TB, 0.022), (_INF, 0.021)),
        ),
        Price(
            "s3_get_1000",
            0.0004,
            "1,000 requests",
            "S3 Standard GET requests (origin reads on edge misses)",
            "Amazon S3 Pricing",
            "https://aws.amazon.com/s3/pricing/",
        ),
        Price(
            "vcpu_hour",
            0.357 / 8,
            "vCPU-hour",
            "EC2 c7i.2xlarge on-demand ($0.357/h, 8 vCPU): edge, origin, api, workers",
            *EC2_PAGE,
        ),
        Price(
            "vcpu_hour_c6i",
            0.34 / 8,
            "vCPU-hour",
            "EC2 c6i.2xlarge on-demand ($0.34/h, 8 vCPU), for comparison",
            *EC2_PAGE,
        ),
        Price(
            "rds_instance_hour",
            0.449,
            "instance-hour",
            "RDS for PostgreSQL db.r6g.xlarge, Single-AZ (each primary and standby)",
            "Amazon RDS for PostgreSQL Pricing",
            "https://aws.amazon.com/rds/postgresql/pricing/",
        ),
        Price(
            "rds_storage_gb_month",
            0.115,
            "GB-month",
            "RDS General Purpose (gp2) storage",
            "Amazon RDS for PostgreSQL Pricing",
            "https://aws.amazon.com/rds/postgresql/pricing/",
        ),
        Price(
            "elasticache_node_hour",
            0.206,
            "node-hour",
            "ElastiCache for Redis cache.r6g.large on-demand",
            "Amazon ElastiCache Pricing",
            "https://aws.amazon.com/elasticache/pricing/",
        ),
    )
}

HOURS_PER_MONTH = 730.0  # AWS's convention for monthly figures


def tiered_cost(price: Price, units: float, override: float | None = None) -> float:
    """The monthly bill of ``units`` at ``price`` (over its tiers), or at a flat override."""
    if override is not None:
        return units * override
    if not price.tiers:
        return units * price.usd
    cost, below = 0.0, 0.0
    for upto, usd in price.tiers:
        if units <= below:
            break
        cost += (min(units, upto) - below) * usd
        below = upto
    return cost
