"""The local cluster passes ``--workers`` to its api and origin processes (1 unless asked:
the cluster's process count stays as it was); a worker process gets no port and no workers."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reelstream.devcluster.cli import up
from reelstream.devcluster.cluster import ClusterSpec, LocalCluster
from reelstream.devcluster.monitoring import MonitoringSpec


def plan(
    tmp_path: Path, http_workers: int = 1, monitoring: MonitoringSpec | None = None
) -> dict[str, list[str]]:
    spec = ClusterSpec(
        tmp_path, apis=1, origins=1, workers=1, http_workers=http_workers, monitoring=monitoring
    )
    cluster = LocalCluster(spec)
    return {r.name: r.argv() for r in cluster._plan_roles({})}


def test_api_and_origin_processes_get_their_workers(tmp_path: Path) -> None:
    argv = plan(tmp_path)
    for name in ("api-1", "origin-1"):
        assert argv[name][argv[name].index("--workers") + 1] == "1"
    assert "--workers" not in argv["worker-1"] and "--port" not in argv["worker-1"]
    argv = plan(tmp_path, http_workers=3)
    for name in ("api-1", "origin-1"):
        assert argv[name][argv[name].index("--workers") + 1] == "3"


def test_cluster_up_offers_http_workers() -> None:
    out = CliRunner().invoke(up, ["--help"])
    assert out.exit_code == 0
    assert "--http-workers" in out.output


def test_workers_get_a_metrics_port_when_the_cluster_is_monitored(tmp_path: Path) -> None:
    assert "--metrics-port" not in plan(tmp_path)["worker-1"]
    argv = plan(tmp_path, monitoring=MonitoringSpec())
    port = int(argv["worker-1"][argv["worker-1"].index("--metrics-port") + 1])
    assert 0 < port < 65536
    assert "--metrics-port" not in argv["api-1"]


def test_cluster_up_refuses_a_webhook_off_this_machine() -> None:
    out = CliRunner().invoke(up, ["--alert-webhook", "http://10.1.2.3:9000/hook"])
    assert out.exit_code == 2
    assert "loopback" in out.output
    out = CliRunner().invoke(up, ["--alert-for", "WorkerStale"])
    assert out.exit_code == 2 and "ALERTNAME=DURATION" in out.output
