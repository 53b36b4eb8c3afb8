"""The shipped Grafana dashboards, read for the tests (``test_dashboards.py`` checks their
shape; the cluster module evaluates every query on a live Prometheus)."""

from __future__ import annotations

import json
from typing import Any

from reelstream.monitoring import DASHBOARDS_DIR

TIERS = ("edge", "api", "origin", "workers", "database", "viewer-qoe", "slo")


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> parsed dashboard, for every ``dashboards/*.json``."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but the rows (which hold none of their own when expanded)."""
    return [p for p in dashboard["panels"] if p.get("type") != "row"]


def dashboard_exprs() -> list[tuple[str, str]]:
    """``("<file>: <panel title>", expr)`` of every query of every dashboard."""
    return [
        (f"{name}: {panel['title']}", target["expr"])
        for name, dashboard in dashboards().items()
        for panel in panels(dashboard)
        for target in panel["targets"]
    ]
