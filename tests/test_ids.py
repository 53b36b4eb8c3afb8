"""Video/upload ids and revs: the one check every route and key builder relies on, anchored
at the very end of the string (a ``$`` anchor would let a trailing newline through)."""

from __future__ import annotations

import pytest

from reelstream.ids import is_valid_id, is_valid_rev, new_id, new_rev


def test_new_ids_and_revs_are_valid() -> None:
    assert is_valid_id(new_id()) and is_valid_rev(new_rev())


@pytest.mark.parametrize(
    "value", ["A" * 16 + "\n", "A" * 16 + "\r\n", "A" * 15 + "\n", "A" * 16 + "\x00", "A" * 17, ""]
)
def test_ids_with_anything_after_them_are_invalid(value: str) -> None:
    assert not is_valid_id(value)


@pytest.mark.parametrize("value", ["a" * 12 + "\n", "a" * 12 + "\x00", "A" * 12, "a" * 13])
def test_revs_with_anything_after_them_are_invalid(value: str) -> None:
    assert not is_valid_rev(value)
