"""The monitoring stack's configuration as ``reelstream cluster up`` renders it
(``devcluster.monitoring_config``): scrape jobs, Alertmanager routes, rule overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reelstream.devcluster.monitoring_config import (
    Target,
    alertmanager_config,
    check_webhook,
    file_targets,
    parse_alert_for,
    prometheus_config,
    render_rules,
)
from reelstream.devcluster.requirements import ClusterError
from reelstream.monitoring import RULES_DIR


def test_every_target_is_scraped_under_its_job_with_its_process_name() -> None:
    targets = [
        Target("api", "api-1", "127.0.0.1:1001"),
        Target("api", "api-2", "127.0.0.1:1002"),
        Target("patroni", "pg-1", "127.0.0.1:2001"),
    ]
    config = prometheus_config(
        targets, interval_s=1, alertmanager="127.0.0.1:9", rules_glob="/r/*.yml"
    )
    assert config["global"] == {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    assert config["rule_files"] == ["/r/*.yml"]
    jobs = {c["job_name"]: c["static_configs"] for c in config["scrape_configs"]}
    assert set(jobs) == {"api", "patroni"}
    assert [s["labels"]["instance"] for s in jobs["api"]] == ["api-1", "api-2"]
    assert jobs["patroni"][0]["targets"] == ["127.0.0.1:2001"]
    slow = prometheus_config(targets, interval_s=15, alertmanager="a:1", rules_glob="x")
    assert slow["global"]["scrape_timeout"] == "10s"


def test_role_targets_come_from_files_the_cluster_rewrites() -> None:
    """A rolling upgrade starts processes on new ports: the api/origin/worker jobs read their
    targets from a file (re-read on change), not from prometheus.yml."""
    targets = [Target("api", "api-1", "127.0.0.1:1001"), Target("redis", "redis", "127.0.0.1:7")]
    config = prometheus_config(
        targets,
        interval_s=2,
        alertmanager="127.0.0.1:9",
        rules_glob="/r/*.yml",
        target_files={"api": "/m/targets/api.json", "worker": "/m/targets/worker.json"},
    )
    by_job = {c["job_name"]: c for c in config["scrape_configs"]}
    assert set(by_job) == {"api", "worker", "redis"}
    assert by_job["api"]["file_sd_configs"] == [
        {"files": ["/m/targets/api.json"], "refresh_interval": "2s"}
    ]
    assert "static_configs" not in by_job["api"]
    assert by_job["redis"]["static_configs"][0]["targets"] == ["127.0.0.1:7"]
    assert file_targets([Target("worker", "worker-3", "127.0.0.1:5003")]) == [
        {"targets": ["127.0.0.1:5003"], "labels": {"instance": "worker-3"}}
    ]


def test_alerts_are_routed_by_severity_to_the_webhook_or_nowhere() -> None:
    config = alertmanager_config(interval_s=15, webhook="http://127.0.0.1:5001/hook")
    route = config["route"]
    assert (route["group_wait"], route["group_interval"]) == ("30s", "60s")
    assert [r["receiver"] for r in route["routes"]] == ["page", "ticket"]
    assert route["routes"][0]["matchers"] == ['severity="page"']
    for receiver in config["receivers"]:
        assert receiver["webhook_configs"] == [
            {"url": "http://127.0.0.1:5001/hook", "send_resolved": True}
        ]
    silent = alertmanager_config(interval_s=15, webhook=None)
    assert silent["receivers"] == [{"name": "page"}, {"name": "ticket"}]


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:5001/", "ftp://127.0.0.1:21/", "http://127.0.0.1/", "nonsense"]
)
def test_a_webhook_off_this_machine_is_refused(url: str) -> None:
    with pytest.raises(ClusterError, match="loopback"):
        check_webhook(url)
    assert check_webhook("http://127.0.0.1:5001/a") == "http://127.0.0.1:5001/a"


def test_for_overrides_apply_to_the_rendered_copy_only(tmp_path: Path) -> None:
    overrides = parse_alert_for(["WorkerStale=0s", "PostgresPrimaryLost=5s"])
    written = render_rules(RULES_DIR, tmp_path / "rules", overrides)
    assert {p.name for p in written} == {p.name for p in RULES_DIR.glob("*.yml")}
    rendered = yaml.safe_load((tmp_path / "rules" / "availability.rules.yml").read_text())
    rules = {r["alert"]: r for g in rendered["groups"] for r in g["rules"] if "alert" in r}
    assert rules["WorkerStale"]["for"] == "0s"
    assert rules["PostgresPrimaryLost"]["for"] == "5s"
    assert rules["InstanceDown"]["for"] == "5m"
    shipped = yaml.safe_load((RULES_DIR / "availability.rules.yml").read_text())
    assert {r["alert"]: r.get("for") for g in shipped["groups"] for r in g["rules"]}[
        "WorkerStale"
    ] == "2m"
    with pytest.raises(ClusterError, match="NoSuchAlert"):
        render_rules(RULES_DIR, tmp_path / "again", {"NoSuchAlert": "1s"})
    for bad in ("WorkerStale", "WorkerStale=soon", "=1s", "a b=1s"):
        with pytest.raises(ClusterError):
            parse_alert_for([bad])


def test_the_stack_follows_the_roles_the_cluster_runs(tmp_path: Path) -> None:
    """What ``follow_roles`` writes is what Prometheus scrapes: after a rolling upgrade the new
    api on its new port and the new worker on its metrics port, and no longer the old ones."""
    from reelstream.devcluster.monitoring import MonitoringSpec, MonitoringStack
    from reelstream.devcluster.roles import RoleProcess

    stack = MonitoringStack(tmp_path / "monitoring", tmp_path / "logs", MonitoringSpec())

    def role(name: str, **ports: int) -> RoleProcess:
        kind = name.split("-")[0]
        assert kind in ("api", "origin", "worker")
        return RoleProcess(name, kind, tmp_path / name, tmp_path / f"{name}.log", {}, **ports)  # type: ignore[arg-type]

    stack.follow_roles([role("api-1", port=1001), role("worker-1", metrics_port=5001)])
    stack.follow_roles([role("api-3", port=1003), role("worker-3", metrics_port=5003)])
    targets = tmp_path / "monitoring" / "targets"
    assert json.loads((targets / "api.json").read_text()) == [
        {"targets": ["127.0.0.1:1003"], "labels": {"instance": "api-3"}}
    ]
    assert json.loads((targets / "worker.json").read_text()) == [
        {"targets": ["127.0.0.1:5003"], "labels": {"instance": "worker-3"}}
    ]
    assert json.loads((targets / "origin.json").read_text()) == []
