"""Typed API errors and the one place that turns any failure into the documented JSON error body.

Every refusal is a ``StatusError`` (``ml.contracts``): the model's own (bad gaze, prompt too long,
unsupported) and the service's below (bad image, busy, not ready, unauthorized). Each carries its
HTTP status, a stable code and a one-line message; anything else is a 500 with an ``error_id``
that matches a log line.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ml.contracts import StatusError
from ml.serve.schemas import ErrorBody

log = logging.getLogger("gaze2report.serve")


class ApiError(StatusError):
    """A refusal of the service itself; ``headers`` go on the response (e.g. Retry-After)."""

    status, code = 400, "invalid_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class BadImage(ApiError):
    status, code = 422, "bad_image"


class ImageTooLarge(ApiError):
    status, code = 413, "too_large"


class BadGaze(ApiError):
    status, code = 422, "bad_gaze"


class Busy(ApiError):
    status, code = 429, "busy"


class NotReady(ApiError):
    status, code = 503, "not_ready"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class SwapInProgress(ApiError):
    status, code = 409, "swap_in_progress"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


#: Codes of the HTTP errors the framework raises itself (routing, body parsing).
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 401: "unauthorized"}


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, error_id: str | None = None
) -> JSONResponse:
    body = ErrorBody(detail=detail, code=code, error_id=error_id).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


def body_of(exc: StatusError) -> ErrorBody:
    return ErrorBody(detail=str(exc), code=exc.code)


def internal(exc: BaseException, where: str) -> ErrorBody:
    """Log an unexpected error under a fresh id and return the 500 body that names it."""
    error_id = uuid.uuid4().hex[:12]
    log.error("error_id=%s unexpected error in %s: %s", error_id, where, type(exc).__name__, exc_info=exc)
    return ErrorBody(
        detail=f"internal error (error_id {error_id}); the server log has the details",
        code="internal",
        error_id=error_id,
    )


#: Parts of a validation error's location that are not field names: the body, and the image's
#: ``format`` tag that picked the image schema (``image.raw.shape`` reads ``image.shape``).
_NOT_FIELDS = {"body", "png", "dicom", "raw"}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:3]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in _NOT_FIELDS)
        msg = e.get("msg", "invalid")
        if e.get("type") == "string_pattern_mismatch" and loc.endswith("data"):
            msg = "not valid base64 (A-Z, a-z, 0-9, +, / in groups of four, '=' padding)"
        parts.append(f"{loc or 'body'}: {msg}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with the documented JSON body."""

    @app.exception_handler(StatusError)
    async def _refused(request: Request, exc: StatusError):
        return error_response(exc.status, exc.code, str(exc), getattr(exc, "headers", None) or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8)
            return error_response(422, "invalid_request", "the request body is not valid JSON")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        body = internal(exc, f"{request.method} {request.url.path}")
        return JSONResponse(body.model_dump(), status_code=500)
