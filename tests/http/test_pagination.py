"""The signed cursor codec shared by the video and the admin listings."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from reelstream.http.pagination import Cursors, InvalidCursor, filter_key

CURSORS = Cursors({"k1": "a" * 48, "k2": "b" * 48}, "k1")


def _parse(data: Any) -> tuple[int, object]:
    last_id, key = data
    if type(last_id) is not int:
        raise ValueError("bad cursor")
    return last_id, key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_a_cursor_round_trips_with_its_filters() -> None:
    filters = filter_key("ready", None)
    cursor = CURSORS.encode([42], filters)
    assert "=" not in cursor and cursor.split(".")[1] == "k1"
    assert CURSORS.decode(cursor, filters, _parse, "status") == 42


def test_every_configured_key_verifies_and_the_active_one_signs() -> None:
    old = Cursors({"k2": "b" * 48}, "k2").encode([7], "f")
    assert CURSORS.decode(old, "f", _parse, "status") == 7
    with pytest.raises(InvalidCursor, match="bad signature"):
        Cursors({"k1": "a" * 48}, "k1").decode(old, "f", _parse, "status")


def test_the_filter_key_depends_on_every_filter_and_their_order() -> None:
    assert filter_key("a", None) == filter_key("a", None)
    assert filter_key("a", None) != filter_key(None, "a")
    assert len(filter_key()) == 12


def _tampered() -> list[str]:
    good = CURSORS.encode([42], "k")
    payload, kid, sig = good.split(".")
    forged = _b64(json.dumps([43, "k"]).encode())
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    return [
        f"{forged}.{kid}.{sig}",  # another position under the old signature
        f"{payload}.{kid}.{flipped}",  # a flipped signature
        f"{payload}.k9.{sig}",  # an unknown key id
        f"{payload}.{kid}",  # no signature
        payload,  # the unsigned form of before
        good + "x",
        " " + good,
        Cursors({"k1": "c" * 48}, "k1").encode([42], "k"),  # signed with another secret
    ]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "bm90IGpzb24",
        "a.b.c",
        "." * 3,
        "x" * 5000,
        _b64(b"[1, 2]"),
        *_tampered(),
    ],
)
def test_a_cursor_we_did_not_issue_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="not one this server issued") as caught:
        CURSORS.decode(cursor, "k", _parse, "status")
    assert caught.value.status == 400 and caught.value.code == "invalid_cursor"


def test_a_signed_cursor_that_does_not_parse_is_refused() -> None:
    """Signing is not parsing: a signed payload we would never issue is still refused."""
    for position in (["x"], [], [1, 2, 3]):
        cursor = CURSORS.encode(position, "k")
        with pytest.raises(InvalidCursor, match="not one this server issued"):
            CURSORS.decode(cursor, "k", _parse, "status")


def test_a_cursor_of_other_filters_is_refused_naming_them() -> None:
    cursor = CURSORS.encode([1], filter_key("ready"))
    with pytest.raises(InvalidCursor, match=r"other filters \(status, q\)"):
        CURSORS.decode(cursor, filter_key("failed"), _parse, "status, q")
