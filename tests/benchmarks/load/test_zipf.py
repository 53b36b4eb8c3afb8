"""Skewed popularity: a seeded sampler, and s solved for ~4% of videos drawing ~90% of views."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from benchmarks.load.zipf import ZipfSampler, s_for_share, top_count, top_share


@pytest.mark.parametrize("n", [2, 10, 100, 1000])
def test_s_is_solved_so_the_top_4_percent_draw_90_percent(n: int) -> None:
    s = s_for_share(n)
    assert top_share(n, s, top_count(n, 0.04)) == pytest.approx(0.9, abs=1e-6)


def test_a_steeper_s_concentrates_more() -> None:
    assert top_share(100, 2.0, 4) > top_share(100, 1.0, 4) > top_share(100, 0.5, 4)


def test_draws_are_skewed_like_the_distribution() -> None:
    items = [f"v{i}" for i in range(100)]
    s = s_for_share(100)
    sampler = ZipfSampler(items, s, random.Random(7))
    counts = Counter(sampler.sample() for _ in range(20_000))
    top4 = sum(counts[f"v{i}"] for i in range(4))
    assert 0.88 < top4 / 20_000 < 0.92
    assert counts["v0"] > counts["v1"] > counts["v3"]


def test_the_same_seed_draws_the_same_sequence() -> None:
    items = [f"v{i}" for i in range(50)]
    a = ZipfSampler(items, 1.2, random.Random(3))
    b = ZipfSampler(items, 1.2, random.Random(3))
    assert [a.sample() for _ in range(200)] == [b.sample() for _ in range(200)]


def test_an_empty_catalogue_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ZipfSampler([], 1.0, random.Random(1))
