"""Token errors. All map to 403 with the message as the reason.

ReelstreamError
└── TokenError
    ├── TokenMissing        no token where one is required
    ├── TokenMalformed      not a token we could have issued
    ├── TokenExpired        a genuine token past its expiry
    └── TokenInvalid        wrong signature, unknown key id, or a token for another video
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class TokenError(ReelstreamError):
    code = "token_error"


class TokenMissing(TokenError):
    code = "token_missing"


class TokenMalformed(TokenError):
    code = "token_malformed"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenInvalid(TokenError):
    code = "token_invalid"
