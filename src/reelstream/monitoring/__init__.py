"""The monitoring stack's data files, shipped with the package (no code lives here).

- ``rules/*.yml``: Prometheus alerting and recording rules; Prometheus loads every file there
  (``reelstream cluster up`` renders them into ``<data>/monitoring/rules/``). Each rules file
  has its promtool unit tests in ``tests/monitoring/rules/<name>.test.yml``.
- ``dashboards/<tier>.json``: Grafana dashboards, importable as they are (docs/operations.md).
- ``mtail/*.mtail``: mtail programs turning the edge's access log into metrics (job ``edge_log``).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
RULES_DIR = ROOT / "rules"
DASHBOARDS_DIR = ROOT / "dashboards"
MTAIL_DIR = ROOT / "mtail"
