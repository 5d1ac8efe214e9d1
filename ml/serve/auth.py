"""Bearer-token authentication: one shared token per backend, compared in constant time.

The token is never logged: it is only held by ``TokenAuth`` and compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hmac
import os
import secrets

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ml.serve.errors import ApiError

TOKEN_ENV = "GAZE2REPORT_TOKEN"
MIN_TOKEN_LENGTH = 16


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_from_env() -> str | None:
    """The token from ``GAZE2REPORT_TOKEN`` (stripped), or None when unset or empty."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    return value or None


def check_token(token: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the bearer token must be at least {MIN_TOKEN_LENGTH} characters long")
    return token


class TokenAuth:
    """FastAPI dependency: 401 unless ``Authorization: Bearer <token>`` matches."""

    def __init__(self, token: str) -> None:
        self._token = check_token(token).encode("utf-8")
        self._scheme = HTTPBearer(auto_error=False, description="the backend's token (GAZE2REPORT_TOKEN)")

    def __repr__(self) -> str:  # never show the token, even in tracebacks with locals
        return "TokenAuth(<hidden>)"

    async def __call__(self, request: Request) -> None:
        creds: HTTPAuthorizationCredentials | None = await self._scheme(request)
        given = (creds.credentials if creds else "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self._token):
            raise Unauthorized(
                "missing or invalid bearer token (send 'Authorization: Bearer <token>')",
                headers={"WWW-Authenticate": "Bearer"},
            )
