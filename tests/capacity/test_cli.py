"""``reelstream capacity``: the seeds' example, JSON, the what-if, price overrides and
refusals."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reelstream.cli.main import main

pytestmark = pytest.mark.timeout(30)

SEEDS = ["capacity", "--dau", "100e6", "--actions-per-user", "10"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "240"})
    return result.exit_code, result.output


def test_the_seeds_example_prints_inputs_figures_outputs_and_costs() -> None:
    code, out = invoke(*SEEDS, "--what-if", "10")
    assert code == 0, out
    for text in ("Inputs", "Measured figures used", "Outputs", "Monthly cost", "What if 10x"):
        assert text in out
    assert "11,574" in out and "34,722" in out  # API actions a day / 86,400 and x3
    assert "edge_hit_rps" in out and "2026-11-30" in out and "benchmarks.serving" in out
    assert "https://aws.amazon.com/s3/pricing/" in out
    assert "what if 10x: API 34.7 K -> 347 K req/s at the peak" in out


def test_json_carries_every_output_its_sources_and_the_what_if() -> None:
    code, out = invoke(*SEEDS, "--json", "--what-if", "10", "--price", "vcpu_hour=0.05")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["outputs"]["api_qps_avg"]["value"] == pytest.approx(1e9 / 86_400)
    assert doc["outputs"]["nodes_edge"]["measured"] == ["edge_hit_rps"]
    assert doc["measured"]["edge_hit_rps"]["machine"].startswith("2 cores")
    assert doc["inputs"]["prices"] == {"vcpu_hour": 0.05}
    compute = next(c for c in doc["costs"] if c["name"] == "compute: api")
    assert compute["usd_month"] == pytest.approx(
        doc["outputs"]["nodes_api"]["value"] * 8 * 730 * 0.05
    )
    assert doc["what_if"]["inputs"]["dau"] == 1e9
    assert doc["what_if"]["outputs"]["api_qps_peak"]["value"] == pytest.approx(
        10 * doc["outputs"]["api_qps_peak"]["value"]
    )
    assert doc["total_usd_month"] == pytest.approx(sum(c["usd_month"] for c in doc["costs"]))


def test_every_input_has_an_option() -> None:
    code, out = invoke("capacity", "--help")
    assert code == 0
    from reelstream.capacity.inputs import CapacityInputs

    for name in CapacityInputs.model_fields:
        flag = "--price" if name == "prices" else f"--{name.replace('_', '-')}"
        assert flag in out, flag


@pytest.mark.parametrize(
    ("args", "code", "reason"),
    [
        (["--dau", "0"], 1, "dau: Input should be greater than or equal to 1"),
        (["--edge-hit-ratio", "2"], 1, "edge_hit_ratio"),
        (["--price", "gold=1"], 1, "unknown price 'gold'"),
        (["--price", "vcpu_hour"], 2, "is not NAME=VALUE"),
        (["--price", "vcpu_hour=cheap"], 2, "is not NAME=VALUE"),
        (["--ladder", "720"], 1, "is not height:kbps:share"),
        (["--dau", "lots"], 2, "'lots' is not a valid float"),
        (["--what-if", "0"], 2, "what-if"),
    ],
)
def test_bad_input_is_refused_with_the_reason(args: list[str], code: int, reason: str) -> None:
    got, out = invoke("capacity", *args)
    assert got == code, out
    assert reason in out
    assert "Traceback" not in out


def test_docs_capacity_shows_what_the_cli_prints_today() -> None:
    """docs/capacity.md pastes the seeds' example; a change to the model or the record must
    update it."""
    from pathlib import Path

    from reelstream.capacity.inputs import build_inputs
    from reelstream.capacity.measured import Measured
    from reelstream.capacity.model import estimate, what_if
    from reelstream.capacity.present import what_if_line

    inputs, measured = build_inputs(dau=100e6, api_actions_per_user=10), Measured.load()
    line = what_if_line(estimate(inputs, measured), what_if(inputs, measured, 10), 10)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "capacity.md").read_text()
    assert "reelstream capacity --dau 100e6 --actions-per-user 10 --what-if 10" in doc
    assert line in doc
