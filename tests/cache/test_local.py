"""The local tier and the shared generation table: bounds (LRU, TTL), a write seen at once in
every process mapping the table, and the fill race."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from reelstream.cache.generations import (
    ANY,
    LocalGenerations,
    MappedGenerations,
    open_generations,
)
from reelstream.cache.local import LocalCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(entries: int = 3, ttl_s: float = 10.0) -> tuple[LocalCache[str], Clock]:
    clock = Clock()
    return LocalCache(LocalGenerations(64), max_entries=entries, ttl_s=ttl_s, clock=clock), clock


def test_least_recently_used_entries_go_first() -> None:
    local, _ = make(entries=3)
    for key in ("a", "b", "c"):
        assert local.put(key, key.upper(), local.stamp(key))
    assert local.get("a") == "A"  # "b" is now the least recently used
    local.put("d", "D", local.stamp("d"))
    assert len(local) == 3
    assert local.get("b") is None
    assert [local.get(k) for k in ("a", "c", "d")] == ["A", "C", "D"]


def test_entries_expire_after_the_ttl() -> None:
    local, clock = make(ttl_s=2.0)
    local.put("a", "A", local.stamp("a"))
    clock.now += 1.9
    assert local.get("a") == "A"
    clock.now += 0.2
    assert local.get("a") is None
    assert len(local) == 0


def test_a_bump_voids_the_entry_and_only_the_keys_slot() -> None:
    local, _ = make()
    local.put("a", "A", local.stamp("a"))
    local.put("b", "B", local.stamp("b"))
    before = local.generations.current_any()
    local.generations.bump(["a"])
    assert local.get("a") is None
    assert local.generations.current_any() != before  # slot 0: "any video changed"
    if local.generations.slot("a") != local.generations.slot("b"):
        assert local.get("b") == "B"


def test_a_value_loaded_before_a_write_cannot_be_stored() -> None:
    local, _ = make()
    stamp = local.stamp("a")  # the reader records the slot, then loads the old row ...
    local.generations.bump(["a"])  # ... a writer commits ...
    assert not local.put("a", "old", stamp)  # ... and the old row is refused
    assert local.get("a") is None
    assert local.put("a", "new", local.stamp("a"))


def test_zero_entries_disables_the_tier() -> None:
    local, _ = make(entries=0)
    assert not local.put("a", "A", local.stamp("a"))
    assert local.get("a") is None


def test_two_mappings_of_one_file_see_each_others_bumps(tmp_path: Path) -> None:
    one = MappedGenerations(tmp_path / "gen", slots=128)
    two = MappedGenerations(tmp_path / "gen", slots=128)
    seen = two.current("video1")
    one.bump(["video1"])
    assert two.current("video1") != seen
    assert two.current_any() == one.read(ANY) != 0


def _bump_in_child(path: str) -> None:
    MappedGenerations(Path(path), slots=128).bump(["video1"])


def test_another_process_bump_is_seen(tmp_path: Path) -> None:
    gens = MappedGenerations(tmp_path / "gen", slots=128)
    local: LocalCache[str] = LocalCache(gens, max_entries=4, ttl_s=60)
    local.put("video1", "cached", local.stamp("video1"))
    child = multiprocessing.get_context("spawn").Process(
        target=_bump_in_child, args=(str(tmp_path / "gen"),)
    )
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert local.get("video1") is None


def test_an_unmappable_path_falls_back_to_a_local_table(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    gens = open_generations(blocker / "gen", slots=16)  # its parent is a file
    assert isinstance(gens, LocalGenerations)
