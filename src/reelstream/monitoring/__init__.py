"""Monitoring data files shipped with the package (no code): where they are, for the cluster,
the CLI and the tests.

``RULES_DIR``: the alerting and recording rules, one ``*.rules.yml`` per area, that Prometheus
loads (``rules/*.yml``); their promtool unit tests are ``tests/monitoring/rules/*.test.yml``.
``MTAIL_DIR``: the mtail programs (``edge.mtail``: the edge's access log -> ``reelstream_edge_*``).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
RULES_DIR = HERE / "rules"
MTAIL_DIR = HERE / "mtail"
