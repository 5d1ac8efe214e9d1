"""Typed API errors: each carries its HTTP status, a stable code and a one-line message."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client as ``{"detail", "code"}`` with ``status``."""

    status: int = 400
    code: str = "invalid_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(" ".join(str(message).split()))
        self.headers = headers or {}

    @property
    def detail(self) -> str:
        return str(self)


class BadImage(ApiError):
    status, code = 422, "bad_image"


class ImageTooLarge(ApiError):
    status, code = 413, "too_large"


class BadGaze(ApiError):
    status, code = 422, "bad_gaze"


class Unsupported(ApiError):
    status, code = 409, "unsupported"


class ContextTooLong(ApiError):
    status, code = 422, "context_too_long"


class Busy(ApiError):
    status, code = 429, "busy"


class NotReady(ApiError):
    status, code = 503, "not_ready"
