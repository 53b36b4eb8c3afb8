"""Authentication, authorization and token errors.

ReelstreamError
├── TokenError                 403: playback tokens
│   ├── TokenMissing           no token where one is required
│   ├── TokenMalformed         not a token we could have issued
│   ├── TokenExpired           a genuine token past its expiry
│   └── TokenInvalid           wrong signature, unknown key id, or a token for another video
└── AuthError
    ├── NotAuthenticated       401: no (or an invalid) credential where one is required
    ├── InvalidCredentials     401: wrong username or password
    ├── Forbidden              403: authenticated, but not allowed (reason in the message)
    │   ├── InsufficientScope  403: the access token lacks the scope the request needs
    │   ├── CsrfFailed         403: cookie-authenticated unsafe request without its CSRF token
    │   ├── FormExpired        403: sign-in/sign-up form without its fresh pre-session token
    │   ├── FormFromElsewhere  403: sign-in/sign-up form submitted from another site
    │   ├── SignupDisabled     403: sign-up is switched off (``signup_enabled``)
    │   ├── WrongPassword      403: a password change with the wrong current password
    │   └── HttpsRequired      403: sign-in from a plain-http page the Secure cookie cannot reach
    ├── UsernameTaken          409
    ├── InvalidAccountInput    422: bad username, password, email, token name or scope
    ├── AccessTokenNotFound    404
    └── SessionNotFound        404: no session of yours with that id
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class TokenError(ReelstreamError):
    code = "token_error"
    status = 403


class TokenMissing(TokenError):
    code = "token_missing"


class TokenMalformed(TokenError):
    code = "token_malformed"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenInvalid(TokenError):
    code = "token_invalid"


class AuthError(ReelstreamError):
    code = "auth_error"


class NotAuthenticated(AuthError):
    code = "not_authenticated"
    status = 401
    page_redirect = "/login"  # a browser asking for a page signs in first
    # A 401 names the scheme that would work (RFC 9110, 11.6.1).
    headers = {"WWW-Authenticate": 'Bearer realm="reelstream"'}


class InvalidCredentials(AuthError):
    code = "invalid_credentials"
    status = 401


class Forbidden(AuthError):
    code = "forbidden"
    status = 403


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


class CsrfFailed(Forbidden):
    code = "csrf_failed"


class FormExpired(Forbidden):
    code = "form_expired"


class FormFromElsewhere(Forbidden):
    code = "form_cross_site"


class SignupDisabled(Forbidden):
    code = "signup_disabled"


class WrongPassword(Forbidden):
    code = "wrong_password"


class HttpsRequired(Forbidden):
    code = "https_required"


class UsernameTaken(AuthError):
    code = "username_taken"
    status = 409


class InvalidAccountInput(AuthError):
    code = "invalid_account_input"
    status = 422


class AccessTokenNotFound(AuthError):
    code = "access_token_not_found"
    status = 404


class SessionNotFound(AuthError):
    code = "session_not_found"
    status = 404
