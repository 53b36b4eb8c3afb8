"""The cursor codec shared by the video and the admin listings."""

from __future__ import annotations

from typing import Any

import pytest

from reelstream.http.pagination import InvalidCursor, decode_cursor, encode_cursor, filter_key


def _parse(data: Any) -> tuple[int, object]:
    last_id, key = data
    if type(last_id) is not int:
        raise ValueError("bad cursor")
    return last_id, key


def test_a_cursor_round_trips_with_its_filters() -> None:
    filters = filter_key("ready", None)
    cursor = encode_cursor([42], filters)
    assert "=" not in cursor
    assert decode_cursor(cursor, filters, _parse, "status") == 42


def test_the_filter_key_depends_on_every_filter_and_their_order() -> None:
    assert filter_key("a", None) == filter_key("a", None)
    assert filter_key("a", None) != filter_key(None, "a")
    assert len(filter_key()) == 12


@pytest.mark.parametrize("cursor", ["", "not base64!", "bm90IGpzb24", encode_cursor(["x"], "k")])
def test_a_cursor_we_did_not_issue_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="not one this server issued") as caught:
        decode_cursor(cursor, "k", _parse, "status")
    assert caught.value.status == 400 and caught.value.code == "invalid_cursor"


def test_a_cursor_of_other_filters_is_refused_naming_them() -> None:
    cursor = encode_cursor([1], filter_key("ready"))
    with pytest.raises(InvalidCursor, match=r"other filters \(status, q\)"):
        decode_cursor(cursor, filter_key("failed"), _parse, "status, q")
