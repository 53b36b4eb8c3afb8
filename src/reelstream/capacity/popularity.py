"""Popularity skew: the share of views that fall on the hot set under a Zipf law.

Video *k* (by rank) draws views in proportion to *k^-s*; the top *K* of *N* videos draw
*H(K, s) / H(N, s)* of them, with *H* the generalised harmonic number. Catalogues reach
billions of videos, so *H* is summed exactly for the first ``EXACT`` terms and the tail is the
Euler-Maclaurin estimate (integral, end-point and first derivative terms), whose error there
is far below the model's other uncertainties. The load harness uses the same law
(docs/performance.md, "What it runs").
"""

from __future__ import annotations

import math

EXACT = 1000


def harmonic(n: int, s: float) -> float:
    """H(n, s) = sum of k^-s for k = 1..n."""
    if n <= EXACT:
        return math.fsum(float(k) ** -s for k in range(1, n + 1))
    m = EXACT
    head = math.fsum(float(k) ** -s for k in range(1, m))
    integral = math.log(n / m) if s == 1 else (n ** (1 - s) - m ** (1 - s)) / (1 - s)
    ends = (m**-s + n**-s) / 2
    slope = (-s * n ** (-s - 1) + s * m ** (-s - 1)) / 12
    return float(head + integral + ends + slope)


def hot_share(videos: int, s: float, hot_fraction: float) -> float:
    """Share of views on the top ``hot_fraction`` of ``videos`` (at least one video)."""
    hot = min(videos, max(1, round(hot_fraction * videos)))
    return harmonic(hot, s) / harmonic(videos, s)
