"""The configuration files of the local cluster's monitoring stack, rendered from its targets.

Pure functions (no process is started here): ``prometheus_config`` (one scrape job per kind of
process, each target labelled ``instance`` = its process name in cluster.json),
``alertmanager_config`` (routed by ``severity``: ``page`` and ``ticket`` receivers, both the
``--alert-webhook`` when one is given, else receivers without any integration, which drop
what reaches them) and ``render_rules`` (the shipped ``monitoring/rules/*.yml``, copied; with
``alert_for`` overrides, the named alerts' ``for:`` replaced in the copy, so a test or a drill
need not wait out production windows while the shipped files keep them).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from reelstream.devcluster.requirements import ClusterError

_DURATION = re.compile(r"\A(?:0|[0-9]{1,6}(?:ms|s|m|h))\Z")
_ALERT_NAME = re.compile(r"\A[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Target:
    """One ``/metrics`` endpoint Prometheus scrapes."""

    job: str
    instance: str
    address: str
    """``host:port``."""
    path: str = "/metrics"


def duration(seconds: float) -> str:
    """A Prometheus duration for ``seconds`` (``15s``, ``1500ms``)."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def check_webhook(url: str) -> str:
    """A webhook URL Alertmanager may post to: http(s) on a loopback address."""
    parts = urlsplit(url)
    try:
        loopback = (
            parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback
        )
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback or parts.port is None:
        raise ClusterError(
            f"alert webhook {url!r} must be http://127.0.0.1:PORT/...: the cluster is loopback only"
        )
    return url


def parse_alert_for(items: Sequence[str]) -> dict[str, str]:
    """``["WorkerStale=0s", ...]`` -> ``{"WorkerStale": "0s"}``; refuses anything else."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _ALERT_NAME.fullmatch(name) or not _DURATION.fullmatch(value):
            raise ClusterError(
                f"--alert-for {item!r} must be ALERTNAME=DURATION, e.g. WorkerStale=5s"
            )
        out[name] = value
    return out


ROLE_JOBS = ("api", "origin", "worker")
"""Jobs whose targets change while the cluster runs (a rolling upgrade starts new processes on
new ports): Prometheus reads them from a file (``file_sd_configs``) the cluster rewrites."""


def file_targets(targets: Sequence[Target]) -> list[dict[str, Any]]:
    """The content of a ``file_sd_configs`` file: each target with its ``instance`` label."""
    return [{"targets": [t.address], "labels": {"instance": t.instance}} for t in targets]


def prometheus_config(
    targets: Sequence[Target],
    *,
    interval_s: float,
    alertmanager: str,
    rules_glob: str,
    target_files: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One scrape job per kind of target; a job named in ``target_files`` reads its targets
    from that file (``file_sd_configs``, re-read when it changes) instead of listing them."""
    jobs: dict[str, list[Target]] = {}
    for t in targets:
        jobs.setdefault(t.job, []).append(t)
    every = duration(interval_s)
    scrape_configs: list[dict[str, Any]] = []
    for job, path in (target_files or {}).items():
        jobs.pop(job, None)
        scrape_configs.append(
            {
                "job_name": job,
                "file_sd_configs": [{"files": [path], "refresh_interval": every}],
            }
        )
    for job, members in jobs.items():
        by_path: dict[str, list[Target]] = {}
        for t in members:
            by_path.setdefault(t.path, []).append(t)
        for n, (path, group) in enumerate(by_path.items()):
            scrape_configs.append(
                {
                    "job_name": job if n == 0 else f"{job}-{n}",
                    "metrics_path": path,
                    "static_configs": [
                        {"targets": [t.address], "labels": {"instance": t.instance, "job": job}}
                        for t in group
                    ],
                }
            )
    return {
        "global": {
            "scrape_interval": every,
            "scrape_timeout": duration(min(interval_s, 10.0)),
            "evaluation_interval": every,
        },
        "rule_files": [rules_glob],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": scrape_configs,
    }


def alertmanager_config(*, interval_s: float, webhook: str | None) -> dict[str, Any]:
    """Alerts grouped per alert and instance; ``group_wait`` two intervals and
    ``group_interval`` four (30 s and 1 min at the default 15 s)."""

    def receiver(name: str) -> dict[str, Any]:
        if webhook is None:
            return {"name": name}
        return {"name": name, "webhook_configs": [{"url": webhook, "send_resolved": True}]}

    return {
        "route": {
            "receiver": "ticket",
            "group_by": ["alertname", "job", "instance"],
            "group_wait": duration(2 * interval_s),
            "group_interval": duration(4 * interval_s),
            "repeat_interval": "12h",
            "routes": [
                {"matchers": ['severity="page"'], "receiver": "page", "repeat_interval": "1h"},
                {"matchers": ['severity="ticket"'], "receiver": "ticket"},
            ],
        },
        "receivers": [receiver("page"), receiver("ticket")],
    }


def render_rules(source: Path, dest: Path, alert_for: Mapping[str, str]) -> list[Path]:
    """Copy ``source/*.yml`` into ``dest`` (emptied first), applying the ``for:`` overrides;
    an override naming no alert is an error (a typo would silently test nothing)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    unused = set(alert_for)
    written = []
    for path in sorted(source.glob("*.yml")):
        target = dest / path.name
        doc = yaml.safe_load(path.read_text()) if alert_for else None
        changed = False
        for group in (doc or {}).get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert")
                if name in alert_for:
                    rule["for"] = alert_for[name]
                    unused.discard(name)
                    changed = True
        if changed:
            target.write_text(yaml.safe_dump(doc, sort_keys=False))
        else:
            shutil.copyfile(path, target)
        written.append(target)
    if unused:
        raise ClusterError(f"--alert-for names no alert in {source}: {', '.join(sorted(unused))}")
    return written


def dump(config: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
