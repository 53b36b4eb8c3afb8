"""The monitoring stack's data files, shipped with the package (no code lives here but their
paths, for the cluster, the CLI and the tests).

- ``rules/*.yml`` (``RULES_DIR``): Prometheus alerting and recording rules, one file per area;
  Prometheus loads every file there (``reelstream cluster up`` renders them into
  ``<data>/monitoring/rules/``). Each rules file has its promtool unit tests in
  ``tests/monitoring/rules/<name>.test.yml``.
- ``dashboards/<tier>.json`` (``DASHBOARDS_DIR``): Grafana dashboards, importable as they are
  (docs/operations.md).
- ``mtail/*.mtail`` (``MTAIL_DIR``): mtail programs; ``edge.mtail`` turns the edge's access log
  into ``reelstream_edge_*`` metrics (scrape job ``edge_log``).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
RULES_DIR = ROOT / "rules"
DASHBOARDS_DIR = ROOT / "dashboards"
MTAIL_DIR = ROOT / "mtail"
