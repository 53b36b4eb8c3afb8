"""Monthly cost by line item, from the model's outputs and the prices (``prices.PRICES``).

A month is 730 hours (AWS's convention) and 30.42 days. Each ``CostLine`` names the prices it
used (with their sources, for the CLI and the page) and its formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reelstream.capacity.inputs import CapacityInputs
from reelstream.capacity.prices import HOURS_PER_MONTH, PRICES, Price, tiered_cost

if TYPE_CHECKING:
    from reelstream.capacity.results import Estimate

DAYS_PER_MONTH = HOURS_PER_MONTH / 24
COMPUTE_TIERS = ("edge", "origin", "api", "workers")


@dataclass(frozen=True)
class CostLine:
    """One line of the monthly bill."""

    name: str
    usd_month: float
    formula: str
    prices: tuple[str, ...]

    def sources(self) -> list[Price]:
        return [PRICES[p] for p in self.prices]

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "usd_month": self.usd_month,
            "formula": self.formula,
            "prices": [
                {
                    "name": p.name,
                    "usd": p.usd,
                    "unit": p.unit,
                    "source": p.source,
                    "url": p.url,
                    "read_on": p.read_on,
                    "tiered": bool(p.tiers),
                }
                for p in self.sources()
            ],
        }


def monthly_costs(e: Estimate, inp: CapacityInputs) -> list[CostLine]:
    over = inp.prices

    def bill(name: str, units: float) -> float:
        return tiered_cost(PRICES[name], units, over.get(name))

    def flat(name: str) -> float:
        return over.get(name, PRICES[name].usd)

    egress = f"{inp.egress_via}_egress_gb"
    egress_gb = e["egress_tb_day"] * 1000 * DAYS_PER_MONTH
    lines = [
        CostLine(
            "egress to viewers",
            bill(egress, egress_gb),
            f"egress_tb_day x 1,000 x 30.42 GB at {egress} (over its volume tiers)",
            (egress,),
        ),
    ]
    remote = (inp.regions - 1) / inp.regions
    fill_gb = e["origin_tb_day"] * 1000 * DAYS_PER_MONTH * remote
    lines.append(
        CostLine(
            "edge fills across regions",
            bill("inter_region_gb", fill_gb),
            "origin_tb_day x 1,000 x 30.42 x (regions - 1) / regions GB",
            ("inter_region_gb",),
        )
    )
    stored_gb = e["storage_total_tb"] * 1000
    lines.append(
        CostLine(
            "object storage",
            bill("s3_standard_gb_month", stored_gb),
            "storage_total_tb x 1,000 GB-month (over its volume tiers)",
            ("s3_standard_gb_month",),
        )
    )
    gets = e["origin_qps_peak"] / inp.peak_to_average * 86_400 * DAYS_PER_MONTH
    lines.append(
        CostLine(
            "object store reads (edge misses)",
            gets / 1000 * flat("s3_get_1000"),
            "origin requests a month / 1,000",
            ("s3_get_1000",),
        )
    )
    for tier in COMPUTE_TIERS:
        nodes = e[f"nodes_{tier}"]
        usd = nodes * inp.cores_per_node * HOURS_PER_MONTH * flat("vcpu_hour")
        lines.append(
            CostLine(
                f"compute: {tier}", usd, f"nodes_{tier} x cores_per_node x 730 h", ("vcpu_hour",)
            )
        )
    db = e["nodes_database"] * HOURS_PER_MONTH * flat("rds_instance_hour")
    db += e["db_size_gb"] * (1 + inp.db_standbys) * flat("rds_storage_gb_month")
    lines.append(
        CostLine(
            "database",
            db,
            "nodes_database x 730 h + db_size_gb x (1 + db_standbys) GB-month",
            ("rds_instance_hour", "rds_storage_gb_month"),
        )
    )
    redis = e["nodes_redis"] * HOURS_PER_MONTH * flat("elasticache_node_hour")
    lines.append(CostLine("redis", redis, "nodes_redis x 730 h", ("elasticache_node_hour",)))
    return lines
