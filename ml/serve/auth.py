"""Bearer-token authentication: one shared token per backend, compared in constant time.

The token is never logged: it is only held by ``TokenAuth`` and compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hmac
import os
import secrets

TOKEN_ENV = "GAZE2REPORT_TOKEN"
#: The token of ``POST /v1/admin/bundle`` (bundle swaps); unset, the admin endpoint does not exist.
ADMIN_TOKEN_ENV = "GAZE2REPORT_ADMIN_TOKEN"
MIN_TOKEN_LENGTH = 16


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_from_env(name: str = TOKEN_ENV) -> str | None:
    """The token from environment variable ``name`` (stripped), or None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def check_token(token: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the bearer token must be at least {MIN_TOKEN_LENGTH} characters long")
    return token


class TokenAuth:
    """Holds the token (``ml.serve.deps.require_token`` answers 401 on a mismatch)."""

    def __init__(self, token: str) -> None:
        self._token = check_token(token).encode("utf-8")

    def __repr__(self) -> str:  # never show the token, even in tracebacks with locals
        return "TokenAuth(<hidden>)"

    def matches(self, given: str | None) -> bool:
        return hmac.compare_digest((given or "").encode("utf-8", "surrogateescape"), self._token)
