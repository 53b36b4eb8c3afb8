"""The capacity model: the seeds' arithmetic, each output moving the right way with each input,
the what-if, and refused inputs."""

from __future__ import annotations

import math

import pytest

from reelstream.capacity.errors import CapacityError
from reelstream.capacity.inputs import CapacityInputs, build_inputs, parse_ladder
from reelstream.capacity.measured import Measured
from reelstream.capacity.model import Estimate, estimate, what_if
from reelstream.capacity.popularity import harmonic, hot_share
from reelstream.capacity.prices import PRICES, tiered_cost
from reelstream.config import DEFAULT_LADDER

pytestmark = pytest.mark.timeout(30)

MEASURED = Measured.load()


def run(**values: object) -> Estimate:
    return estimate(build_inputs(**values), MEASURED)


def test_the_seeds_example_100m_dau_times_10_actions() -> None:
    e = run(dau=100e6, api_actions_per_user=10, peak_to_average=3)
    assert e["api_requests_per_day"] == pytest.approx(1.0e9)
    assert e["api_qps_avg"] == pytest.approx(11_574.07, abs=0.01)  # ≈ 11.6 K
    assert e["api_qps_peak"] == pytest.approx(34_722.2, abs=0.1)  # ≈ 35 K at a 3x peak
    # the "1.16 B requests/day" is 11.6 K x 86,400 s read as a daily figure; a day of
    # 1.16 B would need 11.6 actions each (and give 13.4 K average, 40.3 K at the peak)
    e = run(dau=100e6, api_actions_per_user=11.6)
    assert e["api_requests_per_day"] == pytest.approx(1.16e9)
    assert e["api_qps_avg"] == pytest.approx(13_425.9, abs=0.1)
    assert e["api_qps_peak"] == pytest.approx(40_277.8, abs=0.1)


def test_the_hand_worked_figures_of_docs_capacity() -> None:
    e = run()
    # 2 x 4 min x 60 / 4 s + 2 inits = 122 segments a view, 5 views of 100 M users
    assert e["segments_qps_avg"] == pytest.approx(100e6 * 5 * 122 / 86_400)
    # default watch shares of the project's ladder: 2,470 kb/s of video + 128 of audio
    assert e["served_kbps"] == pytest.approx(2598)
    assert e["egress_gbps_avg"] == pytest.approx(100e6 * 5 * 240 * 2598e3 / 86_400 / 1e9)
    # 100,000 uploads of 5 min: sources 8 Mb/s; renditions 10,400 + 128 kb/s; 2 copies
    assert e["source_tb_day"] == pytest.approx(100_000 * 300 * 1e6 / 1e12)
    assert e["storage_growth_tb_day"] == pytest.approx((30 + 100_000 * 300 * 10_528e3 / 8e12) * 2)
    assert e["storage_total_tb"] == pytest.approx(e["storage_growth_tb_day"] * 365)
    # the measured transcode: 44.44 s on 2 cores for 60 s of 1080p
    assert e["transcode_core_s_per_video_s"] == pytest.approx(44.44 * 2 / 60)
    assert e["transcode_core_hours_day"] == pytest.approx(100_000 * 300 * 44.44 * 2 / 60 / 3600)


def test_every_output_names_its_inputs_or_measured_figures() -> None:
    e = run()
    fields = set(CapacityInputs.model_fields)
    for out in e.outputs.values():
        assert out.inputs or out.measured, out.key
        assert set(out.inputs) <= fields, out.key
        assert set(out.measured) <= set(MEASURED.figures), out.key
    nodes = [o for o in e.outputs.values() if o.key.startswith("nodes_")]
    assert all(o.value == int(o.value) and o.value >= 1 for o in nodes)
    measured_tiers = ("nodes_edge", "nodes_origin", "nodes_api", "nodes_workers")
    assert all(e.outputs[k].measured for k in measured_tiers)
    assert e.total_usd_month == pytest.approx(sum(c.usd_month for c in e.costs))
    assert all(c.prices and c.usd_month > 0 for c in e.costs)


NODE_KEYS = ("nodes_edge", "nodes_origin", "nodes_api", "nodes_workers", "nodes_database")


def _moves(
    low: Estimate,
    high: Estimate,
    up: tuple[str, ...],
    down: tuple[str, ...] = (),
    same: tuple[str, ...] = (),
) -> None:
    for key in up:
        assert high[key] >= low[key], key
    assert not up or any(high[k] > low[k] for k in up)
    for key in down:
        assert high[key] <= low[key], key
    for key in same:
        assert high[key] == pytest.approx(low[key]), key


def test_more_users_more_of_everything_they_drive() -> None:
    low, high = run(dau=10e6), run(dau=20e6)
    _moves(
        low,
        high,
        (
            "api_qps_avg",
            "api_qps_peak",
            "segments_qps_peak",
            "beacons_qps_peak",
            "egress_gbps_peak",
            "origin_gbps_peak",
            "db_writes_peak",
            "nodes_edge",
            "nodes_origin",
            "nodes_api",
        ),
    )
    assert high.total_usd_month > low.total_usd_month
    assert high["api_qps_avg"] == pytest.approx(2 * low["api_qps_avg"])


def test_a_higher_hit_ratio_means_less_origin_load_and_origin_egress() -> None:
    low, high = run(edge_hit_ratio=0.8), run(edge_hit_ratio=0.99)
    _moves(high, low, ("origin_qps_peak", "origin_gbps_peak", "origin_tb_day", "nodes_origin"))
    _moves(low, high, (), same=("egress_gbps_peak", "segments_qps_peak"))
    assert high.total_usd_month < low.total_usd_month


def test_more_replicas_more_storage() -> None:
    low, high = run(replication_factor=1), run(replication_factor=3)
    assert high["storage_total_tb"] == pytest.approx(3 * low["storage_total_tb"])
    assert high["storage_growth_tb_day"] > low["storage_growth_tb_day"]
    assert high.total_usd_month > low.total_usd_month


def test_a_higher_peak_ratio_means_more_nodes_and_the_same_daily_totals() -> None:
    low, high = run(peak_to_average=2), run(peak_to_average=6)
    _moves(
        low,
        high,
        (
            "api_qps_peak",
            "egress_gbps_peak",
            "db_writes_peak",
            "nodes_edge",
            "nodes_origin",
            "nodes_api",
            "nodes_database",
        ),
        same=(
            "api_requests_per_day",
            "api_qps_avg",
            "egress_tb_day",
            "egress_gbps_avg",
            "storage_growth_tb_day",
            "transcode_core_hours_day",
            "nodes_workers",
        ),
    )


def test_uploads_the_ladder_and_retention_drive_storage_and_transcode() -> None:
    base = run()
    more = run(uploads_per_day=200_000)
    _moves(
        base,
        more,
        (
            "storage_growth_tb_day",
            "transcode_core_hours_day",
            "nodes_workers",
            "upload_chunks_qps_peak",
            "db_writes_peak",
        ),
    )
    short = run(ladder=parse_ladder("240:400:0.5,360:800:0.5"))
    _moves(
        short,
        base,
        ("served_kbps", "renditions_tb_day", "transcode_core_s_per_video_s", "egress_gbps_peak"),
    )
    _moves(
        run(retention_days=30),
        base,
        ("storage_total_tb", "db_size_gb", "catalogue_videos"),
        same=("storage_growth_tb_day",),
    )
    _moves(run(headroom=1.1), run(headroom=3), NODE_KEYS)
    _moves(run(zipf_s=0.6), run(zipf_s=1.4), ("hot_set_view_share",))


def test_what_if_10x_scales_the_loads_linearly() -> None:
    inputs = build_inputs()
    base, ten = estimate(inputs, MEASURED), what_if(inputs, MEASURED, 10)
    assert ten.inputs.dau == 10 * inputs.dau
    for key in (
        "requests_per_day",
        "api_qps_avg",
        "api_qps_peak",
        "segments_qps_peak",
        "egress_gbps_peak",
        "origin_gbps_peak",
        "storage_total_tb",
        "transcode_core_hours_day",
        "db_writes_peak",
        "db_size_gb",
    ):
        assert ten[key] == pytest.approx(10 * base[key]), key
    for key in NODE_KEYS:  # whole nodes and per-region minimums: about 10x, never more
        assert 8 * base[key] <= ten[key] <= 10 * base[key] + 1, key
    # a same-shaped catalogue ten times larger keeps about the same hot share
    assert ten["hot_set_view_share"] == pytest.approx(base["hot_set_view_share"], abs=0.02)
    assert 9 <= ten.total_usd_month / base.total_usd_month <= 10.01


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"dau": 0}, "dau: Input should be greater than or equal to 1"),
        ({"edge_hit_ratio": 1.5}, "edge_hit_ratio: Input should be less than or equal to 1"),
        ({"regions": 0}, "regions: Input should be greater than or equal to 1"),
        ({"peak_to_average": 0.5}, "peak_to_average"),
        ({"prices": {"gold_gram": 60.0}}, "unknown price 'gold_gram'"),
        ({"prices": {"vcpu_hour": -1.0}}, "price vcpu_hour must be between 0 and 1e6"),
        ({"bogus": 1}, "bogus: Extra inputs are not permitted"),
        ({"ladder": ()}, "the ladder needs at least one rung"),
    ],
)
def test_bad_input_is_refused_with_the_reason(values: dict[str, object], reason: str) -> None:
    with pytest.raises(CapacityError) as caught:
        build_inputs(**values)
    assert reason in caught.value.message
    assert caught.value.status == 422


def test_a_ladder_in_text_and_its_refusals() -> None:
    assert parse_ladder("720:2800:0.6, 1080:5000:0.4")[1].video_kbps == 5000
    for bad in ("720:2800", "x:1:1", "720:-5:0.5"):
        with pytest.raises(CapacityError, match="ladder"):
            parse_ladder(bad)
    assert [r.height for r in CapacityInputs().ladder] == [r.height for r in DEFAULT_LADDER]


def test_price_overrides_and_volume_tiers() -> None:
    egress = PRICES["ec2_egress_gb"]
    assert tiered_cost(egress, 5_000) == pytest.approx(5_000 * 0.09)
    assert tiered_cost(egress, 200_000) == pytest.approx(
        10_000 * 0.09 + 40_000 * 0.085 + 100_000 * 0.07 + 50_000 * 0.05
    )
    assert tiered_cost(egress, 200_000, override=0.01) == pytest.approx(2_000)
    cheap = run(prices={"vcpu_hour": 0.01})
    base = run()
    line = {c.name: c.usd_month for c in base.costs}
    cheaper = {c.name: c.usd_month for c in cheap.costs}
    assert cheaper["compute: api"] < line["compute: api"]
    assert cheaper["egress to viewers"] == line["egress to viewers"]
    cdn = run(egress_via="cloudfront")
    assert {c.name: c.prices for c in cdn.costs}["egress to viewers"] == ("cloudfront_egress_gb",)
    assert all(p.url.startswith("https://aws.amazon.com/") and p.read_on for p in PRICES.values())


def test_zipf_hot_share() -> None:
    assert harmonic(10, 1.0) == pytest.approx(sum(1 / k for k in range(1, 11)))
    n = 20_000
    assert harmonic(n, 1.3) == pytest.approx(math.fsum(k**-1.3 for k in range(1, n + 1)), 1e-9)
    # the load harness's figure (docs/performance.md): s = 1.50 over 1,000 videos, top 4% ~ 90%
    assert hot_share(1000, 1.5, 0.04) == pytest.approx(0.9, abs=0.01)
    assert hot_share(1, 2.0, 0.04) == 1.0
