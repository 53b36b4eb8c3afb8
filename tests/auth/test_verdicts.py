"""The verdict cache in front of ``TokenSigner.verify``: the same answers, fewer HMACs."""

from __future__ import annotations

import pytest

from reelstream.auth.errors import TokenExpired, TokenInvalid, TokenMalformed, TokenMissing
from reelstream.auth.tokens import TokenClaims, TokenSigner
from reelstream.auth.verdicts import VerdictCache

NOW = 1_800_000_000
VIDEO = "AAAAAAAAAAAAAAAA"
OTHER = "BBBBBBBBBBBBBBBB"


class CountingSigner(TokenSigner):
    def __init__(self) -> None:
        super().__init__({"k1": "s" * 43}, "k1")
        self.checks = 0

    def verify(self, token: str | None, video_id: str, now: float | None = None) -> TokenClaims:
        self.checks += 1
        return super().verify(token, video_id, now)


def test_a_valid_token_is_checked_once() -> None:
    signer = CountingSigner()
    cache = VerdictCache(signer)
    token = signer.sign(VIDEO, NOW + 60)
    for _ in range(5):
        cache.verify(token, VIDEO, now=NOW)
    assert signer.checks == 1
    assert len(cache) == 1


def test_expiry_is_honoured_to_the_second() -> None:
    signer = CountingSigner()
    cache = VerdictCache(signer)
    token = signer.sign(VIDEO, NOW + 10)
    cache.verify(token, VIDEO, now=NOW)
    cache.verify(token, VIDEO, now=NOW + 10)  # the signer accepts expires == now
    with pytest.raises(TokenExpired):
        cache.verify(token, VIDEO, now=NOW + 10.001)
    with pytest.raises(TokenExpired):
        cache.verify(token, VIDEO, now=NOW + 3600)


def test_a_remembered_token_opens_no_other_video() -> None:
    signer = CountingSigner()
    cache = VerdictCache(signer)
    token = signer.sign(VIDEO, NOW + 60)
    cache.verify(token, VIDEO, now=NOW)
    with pytest.raises(TokenInvalid):
        cache.verify(token, OTHER, now=NOW)
    cache.verify(token, VIDEO, now=NOW)  # still good for its own video


@pytest.mark.parametrize(
    ("token", "error"),
    [(None, TokenMissing), ("", TokenMissing), ("nope", TokenMalformed)],
)
def test_refusals_are_the_signers(token: str | None, error: type[Exception]) -> None:
    cache = VerdictCache(CountingSigner())
    with pytest.raises(error):
        cache.verify(token, VIDEO, now=NOW)
    assert len(cache) == 0


def test_forged_tokens_are_never_remembered() -> None:
    signer = CountingSigner()
    cache = VerdictCache(signer)
    good = signer.sign(VIDEO, NOW + 60)
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    for _ in range(3):
        with pytest.raises(TokenInvalid):
            cache.verify(forged, VIDEO, now=NOW)
    assert signer.checks == 3
    assert len(cache) == 0


def test_the_cache_is_bounded() -> None:
    signer = CountingSigner()
    cache = VerdictCache(signer, max_entries=16)
    tokens = [signer.sign(VIDEO, NOW + 60 + i) for i in range(100)]
    for token in tokens:
        cache.verify(token, VIDEO, now=NOW)
        assert len(cache) <= 16
    checks = signer.checks
    cache.verify(tokens[-1], VIDEO, now=NOW)  # the newest are kept
    assert signer.checks == checks
    cache.verify(tokens[0], VIDEO, now=NOW)  # the oldest went, and verify again
    assert signer.checks == checks + 1
    with pytest.raises(ValueError, match="max_entries"):
        VerdictCache(signer, max_entries=0)
