"""Stateless playback tokens: signature, expiry, video binding, key rotation."""

from __future__ import annotations

import time

import pytest

from reelstream.auth.errors import TokenExpired, TokenInvalid, TokenMalformed, TokenMissing
from reelstream.auth.tokens import TokenSigner

KEYS = {"k1": "a" * 40, "k2": "b" * 40}


def test_a_signed_token_verifies_for_its_video() -> None:
    signer = TokenSigner(KEYS, "k1")
    exp = int(time.time()) + 60
    claims = signer.verify(signer.sign("AAAAAAAAAAAAAAAA", exp), "AAAAAAAAAAAAAAAA")
    assert claims.expires == exp
    assert claims.kid == "k1"


def test_a_token_for_one_video_opens_no_other() -> None:
    signer = TokenSigner(KEYS, "k1")
    token = signer.sign("AAAAAAAAAAAAAAAA", int(time.time()) + 60)
    with pytest.raises(TokenInvalid):
        signer.verify(token, "BBBBBBBBBBBBBBBB")


def test_expired_token_is_refused() -> None:
    signer = TokenSigner(KEYS, "k1")
    token = signer.sign("AAAAAAAAAAAAAAAA", int(time.time()) - 1)
    with pytest.raises(TokenExpired):
        signer.verify(token, "AAAAAAAAAAAAAAAA")


def test_forged_expiry_breaks_the_signature() -> None:
    signer = TokenSigner(KEYS, "k1")
    kid, exp, sig = signer.sign("AAAAAAAAAAAAAAAA", int(time.time()) + 60).split(".")
    forged = f"{kid}.{int(exp) + 3600}.{sig}"
    with pytest.raises(TokenInvalid):
        signer.verify(forged, "AAAAAAAAAAAAAAAA")


@pytest.mark.parametrize("token", ["x", "k1.1.2", "k1.abc." + "A" * 43, "../etc." + "1" * 43])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenMalformed):
        TokenSigner(KEYS, "k1").verify(token, "AAAAAAAAAAAAAAAA")


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\x00", " "])
def test_a_valid_token_with_a_trailing_character_is_malformed(suffix: str) -> None:
    signer = TokenSigner(KEYS, "k1")
    token = signer.sign("AAAAAAAAAAAAAAAA", int(time.time()) + 60)
    with pytest.raises(TokenMalformed):
        signer.verify(token + suffix, "AAAAAAAAAAAAAAAA")


def test_missing_token_is_refused() -> None:
    with pytest.raises(TokenMissing):
        TokenSigner(KEYS, "k1").verify("", "AAAAAAAAAAAAAAAA")


def test_rotation_keeps_old_tokens_valid_and_unknown_keys_fail() -> None:
    old = TokenSigner({"k1": KEYS["k1"]}, "k1")
    token = old.sign("AAAAAAAAAAAAAAAA", int(time.time()) + 60)
    rotated = TokenSigner(KEYS, "k2")
    assert rotated.verify(token, "AAAAAAAAAAAAAAAA").kid == "k1"
    assert rotated.sign("AAAAAAAAAAAAAAAA", 10**10).startswith("k2.")
    with pytest.raises(TokenInvalid):
        TokenSigner({"k2": KEYS["k2"]}, "k2").verify(token, "AAAAAAAAAAAAAAAA")


def test_same_key_id_with_another_secret_is_refused() -> None:
    token = TokenSigner(KEYS, "k1").sign("AAAAAAAAAAAAAAAA", int(time.time()) + 60)
    with pytest.raises(TokenInvalid):
        TokenSigner({"k1": "c" * 40}, "k1").verify(token, "AAAAAAAAAAAAAAAA")
