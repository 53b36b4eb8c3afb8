"""Monitoring data files (no code): the Prometheus rules Prometheus loads (``rules/*.yml``).

Alert rules and SLO recording rules are data, shipped with the package so that ``reelstream
cluster up`` and a deployment read the same files; their promtool unit tests live in
``tests/monitoring/rules`` and the runbook every alert links to in ``docs/runbook.md``.
"""

from __future__ import annotations

from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent / "rules"
"""Every ``*.yml`` here is a Prometheus rules file."""
