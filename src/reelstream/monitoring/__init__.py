"""Monitoring data files (no code): where they are, for the cluster and the tests.

``MTAIL_DIR``: the mtail programs (``edge.mtail``: the edge's access log -> ``reelstream_edge_*``).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
MTAIL_DIR = HERE / "mtail"
