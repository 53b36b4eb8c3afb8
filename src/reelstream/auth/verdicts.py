"""A bounded cache of playback-token verdicts, so a viewer's segments skip the HMAC.

``TokenSigner.verify`` costs about 6 µs (a regex, an HMAC-SHA256, a base64 encoding), a tenth of
what the origin spends on a whole segment request. A viewer sends the same token with every
playlist and segment of one playback, so the origin remembers the tokens it has verified:
``token -> (video_id, expires)``.

Only successes are remembered, so a flood of forged tokens cannot fill the cache (every entry
needed a valid signature). A remembered token still passes only for the video it was signed for
and only while ``now <= expires`` (the signer's own rule): past that instant, or for another
video, the full check runs again and raises the precise ``TokenError``. Signing keys are read
once when the app is built, so a key removed from the configuration takes effect on restart,
together with an empty cache. When ``max_entries`` is reached the oldest entries go first.
"""

from __future__ import annotations

import time

from reelstream.auth.tokens import TokenSigner

DEFAULT_MAX_ENTRIES = 65_536
"""About 10 MB at most: far more tokens than concurrent playbacks one origin process serves."""


class VerdictCache:
    def __init__(self, signer: TokenSigner, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.signer = signer
        self.max_entries = max_entries
        self._verdicts: dict[str, tuple[str, int]] = {}

    def __len__(self) -> int:
        return len(self._verdicts)

    def verify(self, token: str | None, video_id: str, now: float | None = None) -> None:
        """Return when ``token`` is a valid, unexpired token for ``video_id``, else raise the
        ``TokenError`` ``TokenSigner.verify`` raises."""
        if now is None:
            now = time.time()
        if token:
            known = self._verdicts.get(token)
            if known is not None and known[0] == video_id and now <= known[1]:
                return
        claims = self.signer.verify(token, video_id, now)
        assert token is not None  # verify raised TokenMissing otherwise
        verdicts = self._verdicts
        if len(verdicts) >= self.max_entries:
            # oldest first (dicts keep insertion order); expired ones would fail anyway
            for stale in list(verdicts)[: max(1, self.max_entries // 8)]:
                del verdicts[stale]
        verdicts[token] = (video_id, claims.expires)
