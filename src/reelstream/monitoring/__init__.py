"""Monitoring data files (Prometheus rules, ...) shipped with the package; no code.

``RULES_DIR``: the alerting and recording rules, one ``*.rules.yml`` per area, that Prometheus
loads (``rules/*.yml``); their promtool unit tests are ``tests/monitoring/rules/*.test.yml``.
"""

from __future__ import annotations

from pathlib import Path

RULES_DIR = Path(__file__).parent / "rules"
