"""The object-key layout and the one key check the stores, the origin and the edge share."""

from __future__ import annotations

import pytest

from reelstream.storage import InvalidKey
from reelstream.storage.keys import (
    caption_key,
    is_valid_path,
    rev_of,
    rev_prefix,
    revs_prefix,
    source_key,
    validate_key,
    video_prefix,
)


def test_layout() -> None:
    assert video_prefix("V") == "videos/V"
    assert source_key("V") == "videos/V/source"
    assert revs_prefix("V") == "videos/V/r"
    assert rev_prefix("V", "abc") == "videos/V/r/abc"
    assert (
        caption_key("V", "en", "0123456789abcdef0123")
        == "videos/V/captions/en.0123456789abcdef.vtt"
    )


def test_rev_of_parses_only_keys_inside_a_rev() -> None:
    assert rev_of("V", "videos/V/r/abc/v360/index.m3u8") == "abc"
    assert rev_of("V", "videos/V/r/abc") == "abc"
    assert rev_of("V", "videos/V/source") is None
    assert rev_of("V", "videos/W/r/abc/x") is None
    assert rev_of("V", "videos/V/r/") is None


@pytest.mark.parametrize("key", ["-x", "a/-b", ".x", "a/../b", "a//b", "", "x" * 129])
def test_invalid_keys(key: str) -> None:
    assert not is_valid_path(key)
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_depth_limit() -> None:
    assert is_valid_path("a/b/c/d", max_parts=4)
    assert not is_valid_path("a/b/c/d/e", max_parts=4)
    assert validate_key("_a/b-c/d.e") == "_a/b-c/d.e"
