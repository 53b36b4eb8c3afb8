"""Usernames and e-mail addresses are checked to the very end of the string: a ``$`` anchor
would let a trailing newline into the stored value."""

from __future__ import annotations

import pytest

from reelstream.auth.accounts import EMAIL_RE, check_username
from reelstream.auth.errors import InvalidAccountInput


@pytest.mark.parametrize("name", ["ali\nce", "alice\x00", "al ice", "alice\u202e", "a"])
def test_bad_usernames_are_refused(name: str) -> None:
    with pytest.raises(InvalidAccountInput):
        check_username(name)


def test_surrounding_whitespace_is_trimmed_never_stored() -> None:
    assert check_username("  alice\n") == "alice"


@pytest.mark.parametrize("email", ["a@example.org\n", "a@example.org\r\n", "a\n@example.org"])
def test_emails_with_a_newline_are_refused(email: str) -> None:
    assert EMAIL_RE.fullmatch(email) is None
    assert EMAIL_RE.match(email) is None  # even a careless .match() cannot accept one
