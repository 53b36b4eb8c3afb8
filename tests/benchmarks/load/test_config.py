"""The command line: loopback only, cluster.json, the API mix and sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.load.config import ConfigError, from_args, is_loopback, parse_mix, parse_size


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.9.9.9", True),
        ("http://localhost:8000/x", True),
        ("http://[::1]:8000", True),
        ("http://10.0.0.1", False),
        ("https://example.com", False),
        ("http://localhost.example.com", False),
    ],
)
def test_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_remote_base_url_needs_the_explicit_flag() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        from_args(["--base-url", "http://example.com"])
    cfg = from_args(["--base-url", "http://example.com", "--allow-remote"])
    assert cfg.base_url == "http://example.com"


def test_the_embedded_server_is_its_own_metrics_and_origin() -> None:
    cfg = from_args(["--base-url", "http://127.0.0.1:8000/", "--profile", "spike", "--hold", "5"])
    assert cfg.base_url == "http://127.0.0.1:8000"
    assert cfg.metrics_urls == cfg.origin_metrics_urls == ["http://127.0.0.1:8000/metrics"]
    assert cfg.profile.kind == "spike" and cfg.profile.hold_s == 5


def test_cluster_json_names_the_edge_the_metrics_and_the_token(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(
        json.dumps(
            {
                "edge_url": "http://127.0.0.1:9000",
                "api_urls": ["http://127.0.0.1:9001"],
                "origin_urls": ["http://127.0.0.1:9002", "http://127.0.0.1:9003"],
                "admin_token": "rs_x",
            }
        )
    )
    cfg = from_args(["--cluster", str(path)])
    assert cfg.base_url == "http://127.0.0.1:9000" and cfg.token == "rs_x"
    assert cfg.metrics_urls == [
        "http://127.0.0.1:9001/metrics",
        "http://127.0.0.1:9002/metrics",
        "http://127.0.0.1:9003/metrics",
    ]
    assert cfg.origin_metrics_urls == cfg.metrics_urls[1:]


def test_mix_and_sizes() -> None:
    assert parse_mix("get=3, patch=1") == {"get": 3.0, "patch": 1.0}
    for bad in ("delete=1", "get=x", "get=0", "get=-1"):
        with pytest.raises(ConfigError):
            parse_mix(bad)
    assert parse_size("256K") == 256 * 1024
    assert parse_size("1MiB") == 1024**2
    assert parse_size("100") == 100


def test_origin_fetches_are_counted_on_every_metrics_url_unless_told() -> None:
    cfg = from_args(["--base-url", "http://127.0.0.1:1", "--metrics-url", "http://127.0.0.1:2/m"])
    assert cfg.origin_metrics_urls == ["http://127.0.0.1:2/m"]
